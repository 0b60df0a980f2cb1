// Task sets for evaluation: JSONL, one {"prompt": ..., "answer": ...} per line,
// with optional "steps" (difficulty) and "id".
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace entropix {

struct EvalTask {
  std::string id;
  std::string prompt;
  std::string answer;  // normalised like extracted answers
  int32_t steps = 0;   // difficulty, 0 when not given
};

// Throws Error naming the file and line for malformed JSON or missing/wrong fields.
std::vector<EvalTask> load_tasks(const std::string& path);

}  // namespace entropix
