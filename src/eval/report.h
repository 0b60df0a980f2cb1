// Evaluation results as a text table, a JSON document and a self-contained HTML
// report with SVG plots (accuracy against tokens spent, states, accuracy by difficulty).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/evaluate.h"

namespace entropix {

struct EvalMeta {
  std::string model;
  std::string tasks;
  std::string answer_pattern;
  uint64_t seed = 0;
};

std::string report_table(const std::vector<StrategyReport>& reports);
nlohmann::json report_json(const std::vector<StrategyReport>& reports, const EvalMeta& meta);
std::string report_html(const std::vector<StrategyReport>& reports, const EvalMeta& meta);

}  // namespace entropix
