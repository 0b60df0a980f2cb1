// `entropix bench`: prompt processing (pp) and generation (tg) speed, as llama-bench
// measures them: pp = one batched pass over a prompt of random tokens; tg = tokens
// decoded one at a time after an empty context. Mean and deviation over repetitions.
// --parallel: per-step cost of N forks of one prompt decoded together, and the KV cache
// they use (forks share the prompt's pages).
// --json-object, --grammar FILE, --json-schema FILE: the token mask's cost against a
// decode step (cli/bench_mask.h).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <fmt/core.h>
#include <map>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "cli/bench_mask.h"
#include "cli/cache_type_flag.h"
#include "cli/commands.h"
#include "cli/flag_checks.h"
#include "cli/grammar_flags.h"
#include "cli/model_path.h"
#include "core/error.h"
#include "core/file_text.h"
#include "core/json_text.h"
#include "gguf/gguf.h"
#include "grammar/constraint_cache.h"
#include "grammar/json_schema_grammar.h"
#include "kernels/dot.h"
#include "model/engine.h"
#include "kernels/kernel_peak.h"
#include "runtime/read_bandwidth.h"
#include "runtime/thread_pool.h"
#include "tokenizer/tokenizer.h"

namespace entropix {

namespace {

struct Stats {
  double mean = 0, stddev = 0;
};

Stats stats(const std::vector<double>& v) {
  Stats s;
  for (double x : v) s.mean += x;
  s.mean /= double(v.size());
  for (double x : v) s.stddev += (x - s.mean) * (x - s.mean);
  s.stddev = v.size() > 1 ? std::sqrt(s.stddev / double(v.size() - 1)) : 0.0;
  return s;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Tokens/s of one test: n_prompt tokens in one batch, or n_gen tokens one by one; with
// a `context` sequence, after its tokens (a fork of it, so that its KV is read, not written again).
double run_once(Engine& engine, int n_prompt, int n_gen, std::mt19937& rng, SeqId context = -1) {
  std::uniform_int_distribution<int32_t> pick(0, engine.config().n_vocab - 1);
  SeqId seq = context >= 0 ? engine.fork(context) : engine.new_sequence();
  auto start = std::chrono::steady_clock::now();
  if (n_prompt > 0) {
    std::vector<BatchToken> batch;
    for (int i = 0; i < n_prompt; ++i) batch.push_back({seq, pick(rng), i + 1 == n_prompt});
    engine.decode(batch);
  } else {
    for (int i = 0; i < n_gen; ++i) {
      BatchToken t{seq, pick(rng), true};
      engine.decode({&t, 1});
    }
  }
  double elapsed = seconds_since(start);
  engine.free_sequence(seq);
  return double(n_prompt > 0 ? n_prompt : n_gen) / elapsed;
}

struct ParallelRun {
  double step_seconds = 0;  // per decode step of all forks together
  size_t kv_bytes = 0;      // KV cache in use after the steps, prompt and forks
};

// `n_seq` forks of one prompt of `n_prompt` tokens decoded together for n_gen steps.
ParallelRun parallel_steps(Engine& engine, int n_seq, int n_prompt, int n_gen, std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> pick(0, engine.config().n_vocab - 1);
  SeqId root = engine.new_sequence();
  std::vector<BatchToken> batch;
  for (int i = 0; i < n_prompt; ++i) batch.push_back({root, pick(rng), i + 1 == n_prompt});
  engine.decode(batch);
  std::vector<SeqId> seqs;
  for (int i = 0; i < n_seq; ++i) seqs.push_back(engine.fork(root));
  auto start = std::chrono::steady_clock::now();
  for (int step = 0; step < n_gen; ++step) {
    batch.clear();
    for (SeqId s : seqs) batch.push_back({s, pick(rng), true});
    engine.decode(batch);
  }
  ParallelRun run{seconds_since(start) / n_gen, engine.kv_bytes_in_use()};
  for (SeqId s : seqs) engine.free_sequence(s);
  engine.free_sequence(root);
  return run;
}

struct BenchOptions {
  std::string model;
  int n_prompt = 512;         // tokens of the pp test (0: skip)
  int n_gen = 128;            // tokens of the tg test (0: skip)
  int depth = 0;              // tokens already in the context when each test starts (llama-bench's -d)
  int reps = 5;               // repetitions of each test
  int batch = 256;            // tokens per forward pass
  int parallel_prompt = 32;   // prompt tokens the --parallel forks share
  std::vector<int> threads{2};
  std::vector<int> parallel;  // fork counts timed together
  bool json = false;
  bool packed_weights = true;
  bool bandwidth = true;  // probe the read bandwidth for each thread count
  bool json_object = false;   // mask test with the grammar of any JSON object
  GrammarFlags grammar;       // mask test with this grammar or schema
  int mask_gen = 128;         // tokens generated under the grammar per pass of the mask test
  std::string mask_answer;    // text whose tokens the mask test takes instead of drawing
  bool mask_test() const { return json_object || grammar.given(); }
  KvType cache_type = KvType::F16;
};


// Multiply-adds per prompt token in the layers' matrices, by weight type (the output
// projection runs for the logit rows only, one per prompt). A mixture of experts' 3-D
// tensors count the experts a token runs through.
std::map<GgmlType, double> layer_macs_by_type(const GgufFile& file, int32_t n_expert_used) {
  std::map<GgmlType, double> macs;
  for (const GgufTensorInfo& t : file.tensors()) {
    if (t.name.rfind("blk.", 0) != 0) continue;
    if (t.n_dims == 2) macs[t.type] += double(t.ne[0]) * double(t.ne[1]);
    if (t.n_dims == 3) macs[t.type] += double(t.ne[0]) * double(t.ne[1]) * double(n_expert_used);
  }
  return macs;
}

// Seconds one prompt token takes when every layer matrix runs at its kernel's peak
// (packed_kernel_peak_macs); 0 where a type has no packed kernel to measure.
double seconds_at_kernel_peak(const std::map<GgmlType, double>& macs, ThreadPool& pool) {
  double seconds = 0.0;
  for (const auto& [type, count] : macs) {
    const double peak = packed_kernel_peak_macs(dot_backend(), type, pool);
    if (peak <= 0) return 0.0;
    seconds += count / peak;
  }
  return seconds;
}
}  // namespace

void add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Measure prompt (pp) and generation (tg) tokens/s");
  auto opts = std::make_shared<BenchOptions>();
  cmd->add_option("-m,--model", opts->model, "GGUF file or cached model name")->required();
  cmd->add_option("-p,--n-prompt", opts->n_prompt, "Prompt tokens (0 to skip)");
  cmd->add_option("-n,--n-gen", opts->n_gen, "Generated tokens (0 to skip)");
  cmd->add_option("-t,--threads", opts->threads, "Thread counts, comma separated (0: one per core)")
      ->delimiter(',')
      ->check(thread_count_check());
  add_cache_type_flag(*cmd, opts->cache_type);
  cmd->add_option("-d,--depth", opts->depth, "Tokens already in the context when each test starts (as llama-bench's -d)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("-r,--repetitions", opts->reps, "Repetitions of each test")->check(CLI::PositiveNumber);
  cmd->add_option("-b,--batch", opts->batch, "Tokens per forward pass");
  cmd->add_option("--parallel", opts->parallel,
                  "Also time one step of this many forked sequences decoded together, comma separated (e.g. 1,2,4,8)")
      ->delimiter(',');
  cmd->add_option("--parallel-prompt", opts->parallel_prompt, "Prompt tokens the --parallel forks share")
      ->check(CLI::PositiveNumber);
  auto* object = cmd->add_flag("--json-object", opts->json_object,
                               "Also time the token mask of structured output, with the grammar of any JSON object");
  add_grammar_flags(*cmd, opts->grammar);
  object->excludes("--grammar")->excludes("--json-schema");
  cmd->add_option("--mask-gen", opts->mask_gen, "Tokens generated under the grammar in each pass of the mask test")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--mask-answer", opts->mask_answer,
                  "The mask test takes this file's tokens (an answer the grammar allows) instead of drawing them");
  cmd->add_flag("--json", opts->json, "Print JSON instead of a table");
  cmd->add_flag("!--no-packed-weights", opts->packed_weights, "Use the matrices as stored only (no copy repacked for the batched kernels)");
  cmd->add_flag("!--no-bandwidth", opts->bandwidth,
                "Skip the probes of the memory's read bandwidth and of the matmul kernels' peak (the ceilings each tg "
                "and pp figure is compared with)");
  cmd->callback([opts] {
    const BenchOptions& o = *opts;
    nlohmann::json results = nlohmann::json::array();
    if (!o.mask_answer.empty() && !o.mask_test())
      throw Error("--mask-answer needs the mask test: give --json-object, --grammar or --json-schema");
    std::optional<std::string> answer;
    if (!o.mask_answer.empty()) {
      answer = read_file(o.mask_answer, "--mask-answer file");
      while (!answer->empty() && answer->back() == '\n') answer->pop_back();  // the file's line end is not the answer's
    }
    // Positions of one answer of the mask test, the prompt's aside (an answer's tokens are at most its bytes).
    const int mask_positions = std::max<int>(o.mask_gen, answer ? static_cast<int>(answer->size()) : 0);
    const std::string path = resolve_model_argument(o.model);
    // The machine's read bandwidth with each thread count: generation's ceiling.
    std::vector<double> read_bandwidth(o.threads.size(), 0.0);
    std::string bandwidth_line;
    for (size_t ti = 0; o.bandwidth && ti < o.threads.size(); ++ti) {
      const int nt = o.threads[ti];
      ThreadPool probe(nt > 0 ? nt : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
      read_bandwidth[ti] = measure_read_bandwidth(probe);
      bandwidth_line += fmt::format("{}{} thread{} {:.1f} GB/s", ti ? ", " : "", probe.size(), probe.size() == 1 ? "" : "s",
                                    read_bandwidth[ti]);
    }
    if (!o.json) {
      fmt::print("kernels: {}\n", kernel_path_description());
      if (o.bandwidth) fmt::print("read bandwidth: {}\n", bandwidth_line);
      fmt::print("| {:<28} | {:>8} | {:>7} | {:>14} | {:>16} | {:>14} | {:>15} |\n", "model", "size GiB", "threads",
                 "test", "t/s", "GB/s (of read)", "Gop/s (of peak)");
      fmt::print("|{:-<30}|{:->10}|{:->9}|{:->16}|{:->18}|{:->16}|{:->17}|\n", "", "", "", "", "", "", "");
    }
    for (size_t ti = 0; ti < o.threads.size(); ++ti) {
      const int nt = o.threads[ti];
      const double read_gbs = read_bandwidth[ti];
      EngineOptions options;
      options.n_threads = nt;
      options.cache_type = o.cache_type;
      options.packed_weights = o.packed_weights;
      options.max_batch = o.batch;
      int max_par = 1;
      for (int p : o.parallel) max_par = std::max(max_par, p);
      options.n_ctx = std::max({o.depth + o.n_prompt + o.n_gen + 16, o.parallel_prompt + max_par * (o.n_gen + 16),
                                mask_positions + 64}) + 16;
      auto engine = Engine::load(path, options);
      std::mt19937 rng(1234);
      // The context the tests start from, read once, untimed.
      SeqId context = -1;
      if (o.depth > 0) {
        context = engine->new_sequence();
        std::uniform_int_distribution<int32_t> pick(0, engine->config().n_vocab - 1);
        std::vector<BatchToken> batch;
        for (int i = 0; i < o.depth; ++i) batch.push_back({context, pick(rng), i + 1 == o.depth});
        engine->decode(batch);
      }
      const ModelConfig& cfg = engine->config();
      // Keys and values read per generated token at this depth (every layer).
      const double depth_kv_bytes =
          double(o.depth) * 2.0 * cfg.n_layer * double(kv_row_bytes(o.cache_type, cfg.n_head_kv * cfg.head_dim));
      const double gib = double(engine->file().file_size()) / (1024.0 * 1024.0 * 1024.0);
      // Prompt processing's ceiling: each layer matrix at its kernel's peak on these threads.
      const std::map<GgmlType, double> macs = layer_macs_by_type(engine->file(), cfg.n_expert_used);
      double macs_per_token = 0.0;
      for (const auto& [type, count] : macs) macs_per_token += count;
      double peak_seconds = 0.0;
      if (o.bandwidth && o.n_prompt > 0 && o.packed_weights) {
        ThreadPool probe(nt > 0 ? nt : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
        peak_seconds = seconds_at_kernel_peak(macs, probe);
      }
      for (int test = 0; test < 2; ++test) {
        int np = test == 0 ? o.n_prompt : 0, ng = test == 1 ? o.n_gen : 0;
        if (np + ng == 0) continue;
        run_once(*engine, std::min(np, 8), std::min(ng, 2), rng, context);  // warm-up
        std::vector<double> tps;
        for (int r = 0; r < o.reps; ++r) tps.push_back(run_once(*engine, np, ng, rng, context));
        Stats s = stats(tps);
        std::string name = test == 0 ? fmt::format("pp{}", np) : fmt::format("tg{}", ng);
        if (o.depth > 0) name += fmt::format(" @ d{}", o.depth);
        // Generation reads every weight once per token, and the keys and values before it.
        double gbs = test == 1 ? s.mean * (double(engine->weight_bytes()) + depth_kv_bytes) / 1e9 : 0.0;
        // A prompt's matrices: two operations per multiply-add, against their peak.
        const double gops = test == 0 ? 2.0 * s.mean * macs_per_token / 1e9 : 0.0;
        const double peak_share = test == 0 ? s.mean * peak_seconds : 0.0;
        if (o.json) {
          results.push_back({{"model", engine->config().name.empty() ? path : engine->config().name},
                             {"model_size", static_cast<uint64_t>(engine->file().file_size())},
                             {"threads", nt},
                             {"kernels", kernel_backend_name()},
                             {"test", name},
                             {"n_prompt", np},
                             {"n_gen", ng},
                             {"n_depth", o.depth},
                             {"avg_ts", s.mean},
                             {"stddev_ts", s.stddev},
                             {"samples_ts", tps},
                             {"weight_bytes_per_token", static_cast<uint64_t>(engine->weight_bytes())},
                             {"gb_per_s", gbs},
                             {"read_bandwidth_gb_per_s", read_gbs},
                             {"share_of_read_bandwidth", test == 1 && read_gbs > 0 ? gbs / read_gbs : 0.0},
                             {"gops", gops},
                             {"kernel_peak_gops", peak_seconds > 0 ? 2.0 * macs_per_token / peak_seconds / 1e9 : 0.0},
                             {"share_of_kernel_peak", peak_share}});
        } else {
          std::string bw = "-";
          if (test == 1) bw = read_gbs > 0 ? fmt::format("{:.1f} ({:.0f}%)", gbs, 100.0 * gbs / read_gbs) : fmt::format("{:.1f}", gbs);
          std::string ops = "-";
          if (test == 0) ops = peak_share > 0 ? fmt::format("{:.0f} ({:.0f}%)", gops, 100.0 * peak_share) : fmt::format("{:.0f}", gops);
          fmt::print("| {:<28} | {:>8.2f} | {:>7} | {:>14} | {:>9.2f} ± {:>4.2f} | {:>14} | {:>15} |\n",
                     engine->config().arch + " " + engine->config().name, gib, nt, name, s.mean, s.stddev, bw, ops);
        }
      }
      // Rounds alternate the fork counts, so a load that changes during the run (another
      // job on the machine) weighs on all of them alike; each ratio is taken within a round.
      for (int p : o.parallel) {
        if (p < 1) throw Error("--parallel counts must be positive");
        parallel_steps(*engine, p, o.parallel_prompt, 2, rng);  // warm-up
      }
      std::vector<std::vector<double>> steps(o.parallel.size()), ratios(o.parallel.size());
      std::vector<size_t> kv_bytes(o.parallel.size());
      for (int r = 0; r < o.reps; ++r) {
        for (size_t i = 0; i < o.parallel.size(); ++i) {
          const ParallelRun run = parallel_steps(*engine, o.parallel[i], o.parallel_prompt, std::max(o.n_gen, 1), rng);
          steps[i].push_back(run.step_seconds);
          ratios[i].push_back(run.step_seconds / steps[0].back());
          kv_bytes[i] = run.kv_bytes;
        }
      }
      for (size_t i = 0; i < o.parallel.size(); ++i) {
        const int p = o.parallel[i];
        const Stats s = stats(steps[i]), ratio = stats(ratios[i]);
        const double kv_mib = double(kv_bytes[i]) / (1024.0 * 1024.0);
        if (o.json) {
          results.push_back({{"threads", nt}, {"test", fmt::format("parallel{}", p)}, {"n_seq", p},
                             {"n_prompt", o.parallel_prompt}, {"n_gen", std::max(o.n_gen, 1)},
                             {"step_ms", 1000 * s.mean}, {"stddev_ms", 1000 * s.stddev},
                             {"tokens_per_second", p / s.mean}, {"step_ratio_to_first", ratio.mean},
                             {"step_ratio_stddev", ratio.stddev}, {"kv_bytes_in_use", static_cast<uint64_t>(kv_bytes[i])}});
        } else {
          fmt::print("| parallel {:>3} sequences, {} threads: {:8.2f} ms/step ± {:.2f}, {:8.2f} t/s total, "
                     "{:.2f}x ± {:.2f} the first step, KV {:.1f} MiB |\n",
                     p, nt, 1000 * s.mean, 1000 * s.stddev, p / s.mean, ratio.mean, ratio.stddev, kv_mib);
        }
      }
      if (o.mask_test()) {
        const auto compile = [&] {
          const Tokenizer& tokenizer = engine->tokenizer();
          return o.json_object ? grammar::compile_grammar(json_object_gbnf(), tokenizer, "the JSON object grammar")
                               : constraint_from_flags(o.grammar, tokenizer);
        };
        const std::string name = o.json_object ? "json_object"
                                 : o.grammar.grammar_file.empty() ? o.grammar.json_schema_file
                                                                  : o.grammar.grammar_file;
        const MaskBench mask = bench_mask(*engine, name, compile, o.mask_gen, answer);
        if (o.json)
          results.push_back(mask_bench_json(mask, nt));
        else
          print_mask_bench(mask, nt);
      }
    }
    if (o.json) fmt::print("{}\n", json_text(results, 2));
  });
}

}  // namespace entropix
