// Runs task sets under several decoding strategies and collects what the report shows.
#pragma once

#include <array>
#include <functional>
#include <string>
#include <vector>

#include "decoding/strategy.h"
#include "eval/tasks.h"
#include "model/engine.h"

namespace entropix {

struct TaskOutcome {
  std::string task_id;
  int32_t steps = 0;
  std::string expected;
  std::string got;       // extracted answer, empty when none
  bool correct = false;
  int64_t tokens = 0;    // tokens spent, all branches
  double seconds = 0;
  std::string text;
};

struct StrategyReport {
  std::string name;
  std::vector<TaskOutcome> outcomes;
  std::array<int64_t, 5> state_counts{};
  int64_t inserted = 0;
  double seconds = 0;

  int32_t correct() const;
  double accuracy() const;
  // 95% Wilson score interval of the accuracy.
  std::pair<double, double> confidence_interval() const;
  double mean_tokens() const;
  double tokens_per_second() const;
};

struct EvalProgress {
  size_t done = 0, total = 0;
  std::string strategy;
};

std::vector<StrategyReport> evaluate(Engine& engine, const std::vector<EvalTask>& tasks,
                                     const std::vector<StrategyOptions>& strategies,
                                     const std::function<void(const EvalProgress&)>& on_progress = {});

}  // namespace entropix
