// `entropix chat`: an interactive conversation in the terminal, with the model's own
// chat template (or plain "User:/Assistant:" turns). With --branching, LEHV steps fork
// and, when the best rollouts score within --clarify-margin of each other but say
// different things, the person chooses which one to continue. The conversation's keys
// and values stay in a prefix cache between turns, so each turn reads only the new
// message (and the previous answer where the template writes it differently).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <fmt/core.h>
#include <iostream>
#include <unistd.h>
#include <memory>

#include "chat/chat_format.h"
#include "chat/jinja_strings.h"
#include "cli/cache_type_flag.h"
#include "cli/commands.h"
#include "cli/flag_checks.h"
#include "cli/model_path.h"
#include "cli/sampling_flags.h"
#include "cli/terminal_colour.h"
#include "core/error.h"
#include "core/file_text.h"
#include "decoding/strategy.h"
#include "model/engine.h"
#include "model/prefix_cache.h"
#include "tokenizer/tokenizer.h"

namespace entropix {

namespace {

// The command's options, bound to its flags and read by its callback.
struct ChatOptions {
  std::string model;
  std::string system_prompt;
  std::string template_path;
  std::string color = "auto";
  int n_predict = 512;
  int n_ctx = 4096;
  int threads = 0;
  bool branching = false;
  bool verbose = false;
  double clarify_margin = 0.15;
  SamplingFlags flags;
  KvType cache_type = KvType::F16;
};

}  // namespace

void add_chat_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("chat", "Talk with a model in the terminal");
  auto o = std::make_shared<ChatOptions>();
  cmd->add_option("-m,--model", o->model, "GGUF file or cached model name")->required();
  cmd->add_option("--system", o->system_prompt, "System message");
  cmd->add_option("--chat-template", o->template_path, "Jinja chat template file (default: the model's own)");
  cmd->add_option("-n,--n-predict", o->n_predict, "Tokens per answer at most")->check(token_count_check());
  cmd->add_option("-c,--ctx-size", o->n_ctx, "Context size (the oldest turns are dropped when the conversation outgrows it)")
      ->check(context_size_check());
  cmd->add_option("-t,--threads", o->threads, "Threads (0: one per core)")->check(thread_count_check());
  add_cache_type_flag(*cmd, o->cache_type);
  cmd->add_flag("--branching", o->branching, "Fork in LEHV steps and keep the best rollout");
  cmd->add_option("--clarify-margin", o->clarify_margin,
                  "Ask which rollout to continue when the best two score within this margin (0: never)");
  cmd->add_flag("-v,--verbose", o->verbose, "Print each turn's prompt tokens, and how many came from the cache, on stderr");
  add_color_flag(*cmd, o->color, "Colour inserted thinking text and the prompts");
  add_sampling_flags(*cmd, o->flags);
  cmd->callback([o] {
    const bool colour = colour_enabled(o->color);
    const std::string path = resolve_model_argument(o->model);
    DecodeOptions base = decode_options_from_flags(o->flags, path);
    base.max_tokens = o->n_predict;
    StrategyOptions strategy = parse_strategy(o->branching ? "entropix-branch" : sampler_kind_name(base.sampler), base);
    strategy.branching.clarify_margin = o->clarify_margin;
    EngineOptions eo;
    eo.n_ctx = o->n_ctx;
    eo.n_threads = o->threads;
    eo.cache_type = o->cache_type;
    set_engine_needs(eo, {&strategy.decode, 1});
    auto engine = Engine::load(path, eo);
    const Tokenizer& tok = engine->tokenizer();
    PrefixCache cache(engine->kv_cache());  // the conversation so far; goes before the engine

    const ChatFormat format(o->template_path.empty() ? engine->chat_template() : read_file(o->template_path, "chat template file"),
                            o->template_path.empty() ? "the model's tokenizer.chat_template" : o->template_path);
    if (!format.has_template()) {
      strategy.decode.stop.push_back(format.stop());
      fmt::print(stderr, "no chat template in the model: using plain User:/Assistant: turns\n");
    }
    strategy.clarify = [colour](const std::vector<BranchChoice>& options) -> size_t {
      fmt::print("\n{}\n", coloured("[the model hesitates between:]", kBold, colour));
      for (size_t i = 0; i < options.size(); ++i) {
        fmt::print("  {}) {} {}\n", i + 1, options[i].text,
                   coloured(fmt::format("(score {:.3f})", options[i].score), kDim, colour));
      }
      for (;;) {
        fmt::print("choose 1-{}: ", options.size());
        std::fflush(stdout);
        std::string line;
        if (!std::getline(std::cin, line)) return 0;
        try {
          size_t k = std::stoul(line);
          if (k >= 1 && k <= options.size()) return k - 1;
        } catch (...) {
        }
      }
    };

    std::vector<ChatMessage> messages;
    if (!o->system_prompt.empty()) messages.push_back({"system", o->system_prompt, nullptr, "", ""});
    const size_t first_turn = messages.size();  // the system prompt before it is never dropped
    // Room kept for an answer: -n tokens, but at most half the context, so that a short
    // context still holds some conversation.
    const size_t answer_room = static_cast<size_t>(std::min(o->n_predict, engine->n_ctx() / 2));
    const size_t n_ctx = static_cast<size_t>(engine->n_ctx());
    const bool tty = isatty(STDIN_FILENO);
    for (int turn = 0;; ++turn) {
      if (tty) fmt::print("{}", coloured("> ", kBold, colour));
      std::fflush(stdout);
      std::string line;
      if (!std::getline(std::cin, line)) break;
      if (line.empty()) continue;
      if (line == "/exit" || line == "/quit") break;
      // A line that is not text is refused alone (a template would fail on it, and end the session).
      if (!jinja::valid_utf8(line)) {
        fmt::print(stderr, "that line is not valid UTF-8 text: not sent (the conversation goes on)\n");
        continue;
      }
      messages.push_back({"user", line, nullptr, "", ""});
      std::vector<int32_t> ids;
      try {
        ids = tok.encode(format.render(messages, tok), format.add_bos(), true);
        // Too long for the context with room for an answer: the oldest exchanges go first.
        size_t dropped = 0;
        while (ids.size() + answer_room > n_ctx && messages.size() > first_turn + 1) {
          const size_t exchange = messages.size() > first_turn + 2 ? 2 : 1;  // a user turn and its answer
          messages.erase(messages.begin() + static_cast<long>(first_turn),
                         messages.begin() + static_cast<long>(first_turn + exchange));
          ++dropped;
          ids = tok.encode(format.render(messages, tok), format.add_bos(), true);
        }
        if (dropped > 0)
          fmt::print(stderr, "the conversation outgrew the context ({} positions): dropped its {} oldest exchange{}\n",
                     n_ctx, dropped, dropped == 1 ? "" : "s");
      } catch (const Error& e) {
        fmt::print(stderr, "that message cannot be put to the model: {} (not sent)\n", e.what());
        messages.pop_back();
        continue;
      }
      if (ids.size() >= n_ctx) {
        fmt::print(stderr, "that message takes {} tokens; the context holds {} positions (-c): not sent\n", ids.size(),
                   n_ctx);
        messages.pop_back();
        continue;
      }
      strategy.decode.seed = base.seed + static_cast<uint64_t>(turn);
      StrategyResult r = run_strategy(*engine, ids, strategy, [colour](std::string_view text, State, bool inserted) {
        fmt::print("{}", coloured(text, kInsertedColour, colour && inserted));
        std::fflush(stdout);
      }, &cache);
      fmt::print("\n");
      if (o->verbose) fmt::print(stderr, "prompt: {} tokens, {} cached\n", ids.size(), r.n_cached);
      std::string answer = r.text;
      format.leading_space().apply(answer);
      messages.push_back({"assistant", answer, nullptr, "", ""});
    }
  });
}

}  // namespace entropix
