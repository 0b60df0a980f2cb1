// Which layers attend through a sliding window, as llama.cpp reads it: the window from
// "<arch>.attention.sliding_window", the layers from "<arch>.attention.sliding_window_pattern",
// either a period n (every layer but each n-th is windowed) or one flag per layer.
#include <string>
#include <variant>
#include <vector>

#include "core/error.h"
#include "gguf/gguf.h"
#include "model/arch/arch.h"

namespace entropix {

void read_sliding_window(const GgufFile& file, ModelConfig& c, uint32_t default_window, uint32_t default_period) {
  const std::string p = c.arch + ".attention.";
  const uint64_t window = file.get_u64(p + "sliding_window", default_window);
  if (window == 0) return;
  if (window > (1u << 30)) {
    throw Error(file.path() + ": " + p + "sliding_window " + std::to_string(window) + " is out of range");
  }
  c.sliding_window = static_cast<int32_t>(window);
  c.swa_layer.assign(static_cast<size_t>(c.n_layer), false);
  const std::string pattern_key = p + "sliding_window_pattern";
  const GgufValue* pattern = file.find(pattern_key);
  if (pattern && pattern->array_size() > 0) {
    // Flags are bool (held as unsigned) or integer.
    std::vector<int64_t> flags;
    if (const auto* u = std::get_if<std::vector<uint64_t>>(&pattern->data)) {
      for (uint64_t f : *u) flags.push_back(f != 0);
    } else if (const auto* i = std::get_if<std::vector<int64_t>>(&pattern->data)) {
      flags = *i;
    } else {
      throw Error(file.path() + ": " + pattern_key + " is an array of neither flags nor integers");
    }
    if (flags.size() != static_cast<size_t>(c.n_layer)) {
      throw Error(file.path() + ": " + pattern_key + " has " + std::to_string(flags.size()) + " entries for " +
                  std::to_string(c.n_layer) + " layers");
    }
    for (size_t l = 0; l < flags.size(); ++l) c.swa_layer[l] = flags[l] != 0;
    return;
  }
  const uint64_t period = pattern ? file.get_u64(pattern_key) : default_period;
  // llama.cpp's set_swa_pattern: period 0 windows every layer, else layer l is windowed
  // unless l % period == period - 1.
  for (int32_t l = 0; l < c.n_layer; ++l) {
    c.swa_layer[static_cast<size_t>(l)] = period == 0 || uint64_t(l) % period < period - 1;
  }
}

}  // namespace entropix
