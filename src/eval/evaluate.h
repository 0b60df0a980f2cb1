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
  double confidence = 0; // the strategy's confidence in its answer (StrategyResult::confidence)
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
  // Every token spent over the correct answers (infinity when none is correct).
  double tokens_per_correct() const;
  // Expected calibration error of the confidences: over kCalibrationBins equal-width
  // bins, the share of answers in a bin times |accuracy - mean confidence| there.
  double calibration_error() const;
};

inline constexpr int kCalibrationBins = 10;

// One bin of a reliability diagram: answers whose confidence fell in it.
struct CalibrationBin {
  int32_t n = 0;
  double mean_confidence = 0;
  double accuracy = 0;
};
std::vector<CalibrationBin> calibration_bins(const StrategyReport& report);

struct EvalProgress {
  size_t done = 0, total = 0;
  std::string strategy;
};

std::vector<StrategyReport> evaluate(Engine& engine, const std::vector<EvalTask>& tasks,
                                     const std::vector<StrategyOptions>& strategies,
                                     const std::function<void(const EvalProgress&)>& on_progress = {});

}  // namespace entropix
