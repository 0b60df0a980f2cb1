// `entropix info -m FILE`: what a model file holds.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <fmt/core.h>
#include <memory>
#include <map>

#include "cli/commands.h"
#include "cli/model_path.h"
#include "gguf/gguf.h"
#include "kernels/dot.h"
#include "model/engine.h"
#include "model/kv_cache.h"
#include "tokenizer/tokenizer.h"

namespace entropix {

namespace {

struct InfoOptions {
  std::string model;
};

}  // namespace

void add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Show a model's architecture, size, tensor types and vocabulary");
  auto opts = std::make_shared<InfoOptions>();
  cmd->add_option("-m,--model", opts->model, "GGUF file or cached model name")->required();
  cmd->callback([opts] {
    const InfoOptions& o = *opts;
    EngineOptions options;
    options.n_ctx = 16;
    options.n_threads = 1;
    options.max_batch = 1;
    options.packed_weights = false;  // nothing is computed: repacking a large model would only cost time and memory
    auto engine = Engine::load(resolve_model_argument(o.model), options);
    const ModelConfig& c = engine->config();
    const GgufFile& f = engine->file();
    std::map<std::string, std::pair<int, size_t>> types;  // type -> tensors, bytes
    for (const auto& t : f.tensors()) {
      auto& e = types[std::string(ggml_type_name(t.type))];
      e.first += 1;
      e.second += t.nbytes;
    }
    const Tokenizer& tok = engine->tokenizer();
    fmt::print("file:            {}\n", f.path());
    fmt::print("gguf version:    {}\n", f.version());
    fmt::print("name:            {}\n", c.name.empty() ? "(none)" : c.name);
    fmt::print("architecture:    {}\n", c.arch);
    fmt::print("parameters:      {} ({:.2f} M)\n", c.n_params, double(c.n_params) / 1e6);
    fmt::print("layers:          {}\n", c.n_layer);
    fmt::print("embedding:       {}\n", c.n_embd);
    fmt::print("heads:           {} (kv {}), head size {}\n", c.n_head, c.n_head_kv, c.head_dim);
    if (c.n_expert > 0) {
      fmt::print("feed forward:    {} experts of width {}, {} per token\n", c.n_expert, c.n_ff_exp, c.n_expert_used);
    } else {
      fmt::print("feed forward:    {}\n", c.n_ff);
    }
    fmt::print("context length:  {}\n", c.n_ctx_train);
    fmt::print("rope:            base {}, {} dims, {}{}{}\n", c.rope_base, c.n_rot,
               c.rope_style == RopeStyle::Interleaved ? "interleaved" : "half-split",
               c.rope_freq_factors ? ", frequency factors" : "",
               c.rope_long_short ? fmt::format(", long-rope beyond {} (attention factor {:.4f})", c.rope_orig_ctx,
                                               c.rope_attn_factor)
                                 : "");
    if (c.sliding_window > 0) {
      int32_t windowed = 0;
      for (bool w : c.swa_layer) windowed += w ? 1 : 0;
      fmt::print("sliding window:  {} positions on {} of {} layers (rope base {} there)\n", c.sliding_window, windowed,
                 c.n_layer, c.rope_base_swa);
    }
    {
      // What the keys and values of one long sequence take in the default f16 cache: the
      // windowed layers hold their window only.
      const int32_t kv_dim = c.n_head_kv * c.head_dim;
      SlidingWindow window;
      if (c.sliding_window > 0) window = {c.sliding_window, {c.swa_layer.begin(), c.swa_layer.end()}};
      const int32_t n_windowed = static_cast<int32_t>(std::count(window.layers.begin(), window.layers.end(), 1));
      const double per_layer = 2.0 * double(kv_row_bytes(KvType::F16, kv_dim)) / 1024.0;
      const uint64_t at_ctx = KvCache::bytes_for(c.n_layer, kv_dim, c.n_ctx_train, KvType::F16, window, 256);
      fmt::print("kv cache (f16):  {:.1f} KiB a position{}; {} positions take {:.0f} MiB\n", per_layer * c.n_layer,
                 n_windowed > 0 ? fmt::format(", {:.1f} KiB past the window", per_layer * (c.n_layer - n_windowed)) : "",
                 c.n_ctx_train, double(at_ctx) / 1048576.0);
    }
    if (c.attn_softcap > 0 || c.final_softcap > 0) {
      fmt::print("soft-capping:    scores {}, logits {}\n", c.attn_softcap, c.final_softcap);
    }
    if (c.ffn_act == FfnActivation::GeluTanh) fmt::print("feed-forward:    GELU (tanh) gated\n");
    fmt::print("output:          {}\n", c.tied_output ? "tied to token embeddings" : "separate");
    fmt::print("tensor types:   ");
    for (const auto& [name, e] : types) fmt::print(" {} x{} ({:.1f} MiB)", name, e.first, double(e.second) / 1048576.0);
    fmt::print("\n");
    fmt::print("vocabulary:      {} tokens, {} ({}), bos {}, eos {}\n", tok.n_vocab(), tok.model_type(),
               tok.pre_type().empty() ? "default" : tok.pre_type(), tok.bos(), tok.eos());
    fmt::print("chat template:   {}\n", f.has("tokenizer.chat_template") ? "present" : "absent");
    fmt::print("weights per token: {:.1f} MiB\n", double(engine->weight_bytes()) / 1048576.0);
    fmt::print("kernels:         {}\n", kernel_path_description());
  });
}

}  // namespace entropix
