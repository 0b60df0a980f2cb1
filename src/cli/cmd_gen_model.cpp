// `entropix gen-model`: writes a random-weight GGUF model in a real model's shape
// (see model/random_model.h), for speed work and reference tests.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/flag_checks.h"
#include "model/random_model.h"

namespace entropix {

namespace {

struct GenModelOptions {
  RandomModelOptions model;
  std::string path;  // GGUF file to write
};

}  // namespace

void add_gen_model_command(CLI::App& app) {
  auto opts = std::make_shared<GenModelOptions>();
  CLI::App* cmd = app.add_subcommand("gen-model", "Write a random-weight GGUF model in a real model's shape");
  cmd->add_option("--shape", opts->model.shape,
                  "llama-1b (Llama-3.2-1B), qwen-0.5b (Qwen2.5-0.5B), gemma3-1b (Gemma 3 1B), gemma2-2b (Gemma 2 "
                  "2B), phi4-mini (Phi-4-mini), qwen3moe-a3b (Qwen3-30B-A3B) or tiny")
      ->check(CLI::IsMember(random_model_shapes()))
      ->capture_default_str();
  cmd->add_option("--arch", opts->model.arch,
                  "Architecture written: llama, qwen2 (qkv bias), qwen3 (q/k norm), qwen3moe, gemma2, gemma3 or phi3 "
                  "(default: the shape's own; tiny: llama)")
      ->check(CLI::IsMember(random_model_archs()));
  cmd->add_option("--type", opts->model.type,
                  "Tensor type: f32, f16, bf16, q8_0, q4_0, q5_k, q6_k (all matrices) or q4_k_m (llama.cpp's mix)")
      ->check(CLI::IsMember(random_model_types()))
      ->capture_default_str();
  cmd->add_option("-o,--output", opts->path, "GGUF file to write")->required();
  cmd->add_option("-s,--seed", opts->model.seed, "Seed of the weights (same seed, same file)")->capture_default_str();
  cmd->add_option("-t,--threads", opts->model.n_threads, "Threads (0: one per core)")
      ->check(thread_count_check())
      ->capture_default_str();
  cmd->callback([opts] {
    const RandomModelOptions& options = opts->model;
    const std::string& path = opts->path;
    const auto start = std::chrono::steady_clock::now();
    const RandomModelSummary s = write_random_model(options, path);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%s: %s %s %s, seed %llu: %.1f M params, %zu tensors (%s), %.1f MiB, %.1f s\n", path.c_str(),
                options.shape.c_str(), s.arch.c_str(), options.type.c_str(),
                static_cast<unsigned long long>(options.seed), static_cast<double>(s.n_params) / 1e6, s.n_tensors,
                s.type_counts.c_str(), static_cast<double>(s.file_bytes) / (1024.0 * 1024.0), seconds);
  });
}

}  // namespace entropix
