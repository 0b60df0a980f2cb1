// `entropix pull`, `entropix list`, `entropix rm`: the model cache from the command line.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "core/json_text.h"
#include "hub/hub.h"
#include "hub/progress.h"

namespace entropix {
namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_interrupt(int) { g_interrupted.store(true); }

// While alive, the first Ctrl-C asks the pull to stop (keeping the .part); a second one
// gets the default action, as SA_RESETHAND restores it.
class InterruptGuard {
 public:
  InterruptGuard() {
    g_interrupted.store(false);
    struct sigaction action {};
    action.sa_handler = on_interrupt;
    action.sa_flags = SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &previous_);
  }
  ~InterruptGuard() { sigaction(SIGINT, &previous_, nullptr); }
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

 private:
  struct sigaction previous_ {};
};

// Runs a subcommand body; an Error is printed and becomes exit code 1 (130 after Ctrl-C).
void run_reporting_errors(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    throw CLI::RuntimeError(g_interrupted.load() ? 130 : 1);
  }
}

void print_table(const std::vector<CachedModel>& models) {
  if (models.empty()) {
    std::printf("no models in %s; download one with `entropix pull owner/repo[:QUANT]`\n",
                (cache_dir() / "models").string().c_str());
    return;
  }
  std::size_t name_width = 4;
  for (const auto& m : models) name_width = std::max(name_width, m.name.size());
  std::printf("%s\n",
              fmt::format("{:<{}}  {:>10}  {:<8}  {}", "NAME", name_width, "SIZE", "QUANT", "PATH").c_str());
  for (const auto& m : models)
    std::printf("%s\n",
                fmt::format("{:<{}}  {:>10}  {:<8}  {}", m.name, name_width, hub::format_bytes(m.size),
                            m.quant.empty() ? "-" : m.quant, m.path.string())
                    .c_str());
}

void print_json(const std::vector<CachedModel>& models) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& m : models)
    out.push_back({{"name", m.name},
                   {"repo", m.repo},
                   {"file", m.file},
                   {"quant", m.quant},
                   {"size", m.size},
                   {"revision", m.revision},
                   {"sha256", m.sha256},
                   {"downloaded_at", m.downloaded_at},
                   {"path", m.path.string()}});
  std::printf("%s\n", json_text(out, 2).c_str());
}

struct PullCommandOptions {
  std::string spec;  // owner/repo[:QUANT|:FILE.gguf]
  bool force = false;
  bool quiet = false;
};

struct ListCommandOptions {
  bool json = false;
};

struct RmCommandOptions {
  std::string name;
};

}  // namespace

void add_model_commands(CLI::App& app) {
  auto* pull = app.add_subcommand("pull", "Download a GGUF model from Hugging Face into the local cache");
  auto pull_opts = std::make_shared<PullCommandOptions>();
  pull->add_option("model", pull_opts->spec,
                   "owner/repo[:QUANT|:FILE.gguf], e.g. bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M; "
                   "HF_ENDPOINT and HF_TOKEN are honoured")
      ->required();
  pull->add_flag("-f,--force", pull_opts->force, "Download again even if the cached copy matches");
  pull->add_flag("-q,--quiet", pull_opts->quiet, "No progress output");
  pull->callback([pull_opts] {
    run_reporting_errors([&] {
      InterruptGuard guard;
      PullOptions options;
      options.force = pull_opts->force;
      options.progress = !pull_opts->quiet;
      options.cancel = &g_interrupted;
      std::printf("%s\n", pull_model(pull_opts->spec, options).string().c_str());
    });
  });

  auto* list = app.add_subcommand("list", "List the models in the local cache");
  auto list_opts = std::make_shared<ListCommandOptions>();
  list->add_flag("--json", list_opts->json, "Print a JSON array");
  list->callback([list_opts] {
    run_reporting_errors([&] {
      const auto models = list_cached_models();
      list_opts->json ? print_json(models) : print_table(models);
    });
  });

  auto* rm = app.add_subcommand("rm", "Remove a model from the local cache");
  auto rm_opts = std::make_shared<RmCommandOptions>();
  rm->add_option("name", rm_opts->name, "A name shown by `entropix list`, owner/repo:QUANT, or a file name")
      ->required();
  rm->callback([rm_opts] {
    run_reporting_errors([&] { std::printf("removed %s\n", remove_cached_model(rm_opts->name).string().c_str()); });
  });
}

}  // namespace entropix
