#include "eval/tasks.h"

#include <sstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_text.h"
#include "decoding/answer.h"

namespace entropix {

std::vector<EvalTask> load_tasks(const std::string& path) {
  std::istringstream in(read_file(path, "task file"));
  std::vector<EvalTask> tasks;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(n);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw Error(where + ": not valid JSON (" + e.what() + ")");
    }
    if (!j.is_object() || !j.contains("prompt") || !j["prompt"].is_string()) {
      throw Error(where + ": expected an object with a string field \"prompt\"");
    }
    EvalTask t;
    t.prompt = j["prompt"].get<std::string>();
    if (!j.contains("answer")) throw Error(where + ": missing field \"answer\"");
    if (j["answer"].is_string()) t.answer = normalize_answer(j["answer"].get<std::string>());
    else if (j["answer"].is_number_integer()) t.answer = std::to_string(j["answer"].get<long long>());
    else throw Error(where + ": \"answer\" must be a string or an integer");
    if (j.contains("steps")) {
      if (!j["steps"].is_number_integer()) throw Error(where + ": \"steps\" must be an integer");
      t.steps = j["steps"].get<int32_t>();
    }
    t.id = j.contains("id") && j["id"].is_string() ? j["id"].get<std::string>() : std::to_string(n);
    tasks.push_back(std::move(t));
  }
  if (tasks.empty()) throw Error(path + ": no tasks");
  return tasks;
}

}  // namespace entropix
