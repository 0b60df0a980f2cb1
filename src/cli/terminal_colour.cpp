#include "cli/terminal_colour.h"

#include <CLI/CLI.hpp>
#include <unistd.h>

namespace entropix {

void add_color_flag(CLI::App& cmd, std::string& when, const std::string& what) {
  cmd.add_option("--color", when, what + ": auto (when stdout is a terminal), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
}

bool colour_enabled(const std::string& when) { return when == "always" || (when == "auto" && isatty(STDOUT_FILENO)); }

const char* state_colour(State s) {
  switch (s) {
    case State::LELV: return "\033[32m";      // green: confident
    case State::HELV: return "\033[31m";      // red: lost
    case State::LEHV: return "\033[33m";      // yellow: a fork
    case State::HEHV: return "\033[35m";      // magenta: unsure
    case State::Adaptive: return "\033[36m";  // cyan
  }
  return "";
}

const char* token_colour(State s, bool inserted) { return inserted ? kInsertedColour : state_colour(s); }

std::string coloured(std::string_view text, const char* colour, bool on) {
  if (!on) return std::string(text);
  std::string out(colour);
  out += text;
  out += "\033[0m";
  return out;
}

}  // namespace entropix
