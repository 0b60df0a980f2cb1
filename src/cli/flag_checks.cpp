#include "cli/flag_checks.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <string>
#include <thread>

namespace entropix {

namespace {

// The flag's value as an integer; nullopt when it is not one (CLI11 reports that itself).
std::optional<long long> integer(const std::string& text) {
  long long v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

}  // namespace

CLI::Validator thread_count_check() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        const long long cores = std::max(1u, std::thread::hardware_concurrency());
        const auto v = integer(text);
        if (!v || (*v >= 0 && *v <= 4 * cores)) return {};
        return "threads must be 0 (one per core) or 1 to " + std::to_string(4 * cores) + " (4 x the " +
               std::to_string(cores) + " cores), got " + text;
      },
      "0 or 1..4 x cores");
}

CLI::Validator context_size_check() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        const auto v = integer(text);
        if (!v || *v >= 0) return {};
        return "the context size must be a number of positions (0: the model's own, at most 4096), got " + text;
      },
      "positions");
}

CLI::Validator token_count_check() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        const auto v = integer(text);
        if (!v || *v >= 1) return {};
        return "the number of tokens to generate must be at least 1, got " + text;
      },
      "at least 1");
}

}  // namespace entropix
