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
// report_json as the text of results.json. A sampled completion can end inside a
// multi-byte character (or be any bytes at all): invalid UTF-8 is written as U+FFFD
// rather than losing the whole file.
std::string report_json_text(const std::vector<StrategyReport>& reports, const EvalMeta& meta);
std::string report_html(const std::vector<StrategyReport>& reports, const EvalMeta& meta);

}  // namespace entropix
