// Colour on stdout for run and chat: the --color flag, the one rule that turns it
// on, and the ANSI colours of the uncertainty states and of inserted thinking text.
#pragma once

#include <string>
#include <string_view>

#include "entropix/policy.h"

namespace CLI {
class App;
}

namespace entropix {

inline constexpr const char* kInsertedColour = "\033[1;34m";  // bold blue: text the sampler inserted
inline constexpr const char* kBold = "\033[1m";
inline constexpr const char* kDim = "\033[2m";

// --color auto|always|never into `when` (its value before the call is the default);
// `what` says what gets colour ("Colour tokens by uncertainty state").
void add_color_flag(CLI::App& cmd, std::string& when, const std::string& what);
// Whether stdout gets colour: "always", or "auto" and stdout is a terminal.
bool colour_enabled(const std::string& when);

// ANSI colour of each uncertainty state.
const char* state_colour(State s);
// The colour of a piece of generated text: kInsertedColour when the sampler inserted
// it, else its state's.
const char* token_colour(State s, bool inserted);

// `text` between `colour` and a reset when `on`, else `text` as it is.
std::string coloured(std::string_view text, const char* colour, bool on);

}  // namespace entropix
