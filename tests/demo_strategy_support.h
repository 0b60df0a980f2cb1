// The demo model as the strategy tests load it (one thread, a 2048-token context) and
// the word problem they ask it.
#pragma once

#include <memory>

#include "model/engine.h"
#include "support.h"

namespace entropix::testing {

inline std::unique_ptr<Engine> load_demo(bool attention = false) {
  EngineOptions o;
  o.n_ctx = 2048;
  o.n_threads = 1;
  o.attention_scores = attention;
  return Engine::load((source_dir() / "models/demo/demo-q8_0.gguf").string(), o);
}

inline const char* kPrompt = "Q: Mia has 23 shells. She finds 18 more and gives 9 to Leo. How many shells does Mia have?\nA:";

}  // namespace entropix::testing
