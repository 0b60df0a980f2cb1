// Checks of the numeric flags several subcommands share (-t, -c, -n), as CLI11
// validators: a value out of range ends the command before anything is loaded,
// with CLI11's "--flag: ..." and a message saying what was expected.
#pragma once

#include <CLI/CLI.hpp>

namespace entropix {

// Threads: 0 (one per core) or 1 to 4 x the cores (more only slows every step down).
CLI::Validator thread_count_check();
// Context positions: 0 (the command's default) or more; memory is checked at load.
CLI::Validator context_size_check();
// Tokens to generate: at least 1.
CLI::Validator token_count_check();

}  // namespace entropix
