// --cache-type, the KV cache's storage (as llama.cpp's -ctk/-ctv), shared by every
// command that loads an engine.
#pragma once

#include <CLI/CLI.hpp>

#include "model/kv_cache.h"

namespace entropix {

// Adds `--cache-type f16|f32|q8_0` writing into `type` (default F16).
void add_cache_type_flag(CLI::App& cmd, KvType& type);

}  // namespace entropix
