// Hostile chat templates (from --chat-template or a GGUF's tokenizer.chat_template): each
// must end in a clear Error within the render's limits, never a crash, a hang or gigabytes
// of memory. The hostile sources are built here rather than stored.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "chat/jinja_strings.h"
#include "chat/jinja_value.h"
#include "core/error.h"
#include "support.h"

namespace {

using entropix::ChatTemplate;
using entropix::jinja::Limits;
using ordered = nlohmann::ordered_json;

struct Outcome {
  std::string output;  // when it rendered
  std::string error;   // the Error's message, "" when it rendered
  double seconds = 0;  // parse and render together
};

ordered chat_context() {
  return {{"messages", {{{"role", "user"}, {"content", "hi"}}, {{"role", "assistant"}, {"content", "hello"}}}},
          {"bos_token", "<s>"},
          {"add_generation_prompt", true}};
}

Outcome run(const std::string& src, const ordered& ctx = chat_context()) {
  Outcome o;
  const auto start = std::chrono::steady_clock::now();
  try {
    o.output = ChatTemplate(src).render(ctx);
  } catch (const entropix::Error& e) {
    o.error = e.what();
  }
  o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return o;
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  out.reserve(s.size() * static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

const std::string kTooDeep = "nested at most";
const std::string kTooBig = std::to_string(Limits::kMaxRenderBytes >> 20) + " MiB";
const std::string kTooLong = std::to_string(Limits::kMaxRenderMilliseconds) + " ms";
// Long enough for the slowest machine to reach the time limit and stop.
constexpr double kBoundedSeconds = 5.0 * entropix::jinja::kInstrumentedSlowdown;

TEST(ChatJinjaLimits, LongLeftLeaningChainsStopAtTheParseDepth) {
  for (const std::string& src : {"{{ 1" + repeat(" + 1", 20000) + " }}",                // a 20,000-term sum
                                 "{{ messages" + repeat(".a", 20000) + " }}",         // attributes
                                 "{{ messages" + repeat("[0]", 20000) + " }}",        // subscripts
                                 "{{ 'x'" + repeat("|trim", 100000) + " }}",          // filters
                                 "{{ 'x'" + repeat(" ~ 'x'", 20000) + " }}",          // concatenation
                                 "{{ x" + repeat(" or x", 20000) + " }}",             // or
                                 "{{ 2" + repeat(" * 2", 20000) + " }}",              // products
                                 "{{ f" + repeat("()", 20000) + " }}",                // calls
                                 "{% filter upper" + repeat("|trim", 100000) + " %}x{% endfilter %}",
                                 "{{ 1" + repeat(" if x else 1", 20000) + " }}"}) {
    const Outcome o = run(src);
    EXPECT_NE(o.error.find(kTooDeep), std::string::npos) << src.substr(0, 40) << ": " << o.error;
    EXPECT_NE(o.error.find("line 1"), std::string::npos) << o.error;
    EXPECT_LT(o.seconds, kBoundedSeconds);
  }
}

TEST(ChatJinjaLimits, ChainsRealTemplatesWriteStillParse) {
  // A 100-term concatenation and a 20-filter chain: far beyond real templates, within the limit.
  EXPECT_EQ(run("{{ 'a'" + repeat(" ~ 'a'", 99) + " }}").output, std::string(100, 'a'));
  EXPECT_EQ(run("{{ ' x '" + repeat("|trim", 20) + " }}").output, "x");
}

TEST(ChatJinjaLimits, SelfContainingValuesPrintAsPythonDoes) {
  // jinja2 prints what it is already printing as {...} or [...], as Python's repr does.
  Outcome o = run("{% set ns = namespace(a=1) %}{% set ns.a = ns %}{{ ns }}");
  EXPECT_EQ(o.output, "<Namespace {'a': <Namespace {...}>}>") << o.error;
  o = run("{% set ns = namespace(a=1) %}{% set ns.l = [ns, {'k': ns}] %}{{ ns }}|{{ ns.l }}");
  EXPECT_EQ(o.output,
            "<Namespace {'a': 1, 'l': [<Namespace {...}>, {'k': <Namespace {...}>}]}>|"
            "[<Namespace {'a': 1, 'l': [...]}>, {'k': <Namespace {'a': 1, 'l': [...]}>}]")
      << o.error;
  // Every other way of walking a self-containing value ends too.
  for (const char* tail : {"{{ ns|tojson }}", "{{ ns|string }}", "{{ [ns] == [ns] }}", "{{ ns.a.a.a.a.a.l }}",
                           "{{ ns|list }}", "{{ ns|items|list }}", "{{ [ns]|unique|list }}"}) {
    o = run(std::string("{% set ns = namespace(a=1) %}{% set ns.a = ns %}{% set ns.l = [ns] %}") + tail);
    EXPECT_LT(o.seconds, kBoundedSeconds) << tail;
  }
}

// Resident memory of this process, bytes.
size_t resident_bytes() {
  size_t pages = 0, resident = 0;
  std::ifstream("/proc/self/statm") >> pages >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

TEST(ChatJinjaLimits, ValuesThatHoldThemselvesAreFreedWhenTheRenderEnds) {
  if (entropix::jinja::kInstrumentedSlowdown > 1)  // freed memory waits in ASan's quarantine; LeakSanitizer checks this build at exit
    GTEST_SKIP() << "resident memory does not fall under AddressSanitizer";
  // Shared pointers never free a cycle by themselves: 10 renders would keep 200 MB.
  const ChatTemplate t("{% set ns = namespace(a=1) %}{% set ns.a = ns %}{% set ns.s = 'x' * 20000000 %}"
                       "{% set ns.f = ns.get %}{{ ns.s|length }}");
  const size_t before = resident_bytes();
  for (int i = 0; i < 10; ++i) EXPECT_EQ(t.render(chat_context()), "20000000");
  EXPECT_LT(resident_bytes(), before + (100u << 20));
}

TEST(ChatJinjaLimits, DeepChainsOfNamespacesStopAtTheValueDepth) {
  // Linked last to first, each namespace is shallow when it is stored, so only the walk
  // that prints the chain can see how deep it is.
  const Outcome o = run(
      "{% set ns = namespace(l=[]) %}{% for i in range(3000) %}{% set ns.l = ns.l + [namespace(n=none)] %}"
      "{% endfor %}{% for i in range(2999, 0, -1) %}{% set x = ns.l[i] %}{% set x.n = ns.l[i - 1] %}{% endfor %}"
      "{{ ns.l[2999] }}");
  EXPECT_NE(o.error.find(kTooDeep), std::string::npos) << o.error.substr(0, 200) << o.output.substr(0, 200);
}

TEST(ChatJinjaLimits, AListDoubledInALoopStopsAtTheMemoryBudget) {
  Outcome o = run("{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}");
  EXPECT_NE(o.error.find(kTooBig), std::string::npos) << o.error;
  EXPECT_LT(o.seconds, kBoundedSeconds);
  // Many strings, each under the single-string limit, held at once.
  o = run("{% set ns = namespace(l=[]) %}{% for i in range(1000) %}"
          "{% set ns.l = ns.l + ['x' * 1000000 ~ i] %}{% endfor %}");
  EXPECT_NE(o.error.find(kTooBig), std::string::npos) << o.error;
  EXPECT_LT(o.seconds, kBoundedSeconds);
  o = run("{{ range(1000000000)|length }}");
  EXPECT_NE(o.error.find(kTooBig), std::string::npos) << o.error;
}

TEST(ChatJinjaLimits, ALongRunningRenderStopsAtTheTimeBudget) {
  Outcome o = run("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}");
  EXPECT_NE(o.error.find(kTooLong), std::string::npos) << o.error;
  EXPECT_LT(o.seconds, kBoundedSeconds);
  // Each step is cheap but the value it compares doubles: 2^60 comparisons without the clock.
  o = run("{% set ns = namespace(a=[1], b=[1]) %}{% for i in range(60) %}{% set ns.a = [ns.a, ns.a] %}"
          "{% set ns.b = [ns.b, ns.b] %}{% endfor %}{{ ns.a == ns.b }}");
  EXPECT_NE(o.error.find(kTooLong), std::string::npos) << o.error;
  EXPECT_LT(o.seconds, kBoundedSeconds);
  // Printing it would take 2^60 bytes: the printer stops at the string limit.
  o = run("{% set ns = namespace(a=[1]) %}{% for i in range(60) %}{% set ns.a = [ns.a, ns.a] %}{% endfor %}"
          "{{ ns.a }}");
  EXPECT_NE(o.error, "");
  EXPECT_LT(o.seconds, kBoundedSeconds);
}

TEST(ChatJinjaLimits, RecursionThroughMacrosStopsAtTheRenderDepth) {
  // Each call nests blocks almost as deep as the parser allows; 64 calls deep, they would
  // stack 64 times that: the render's own depth limit keeps them within the thread's stack.
  const int blocks = Limits::kMaxParseDepth - 10;
  const Outcome o = run("{% macro f(n) %}" + repeat("{% for x in [n] %}", blocks) + "{{ f(x + 1) }}" +
                        repeat("{% endfor %}", blocks) + "{% endmacro %}{{ f(0) }}");
  EXPECT_NE(o.error.find(kTooDeep), std::string::npos) << o.error;
  EXPECT_LT(o.seconds, kBoundedSeconds);
}

TEST(ChatJinjaLimits, RealTemplatesRenderTheLargestConversationTheServerTakes) {
  ENTROPIX_REQUIRE_TESTDATA();
  // 1,023 turns of 1,000 bytes: about the server's 1 MiB body and 1,024 messages.
  std::vector<entropix::ChatMessage> messages;
  for (int i = 0; i < 1023; ++i) {
    entropix::ChatMessage m;
    m.role = i % 2 == 0 ? "user" : "assistant";
    m.content = std::string(990, static_cast<char>('a' + i % 26)) + " turn " + std::to_string(i);
    messages.push_back(std::move(m));
  }
  int rendered = 0;
  for (const auto& entry : std::filesystem::directory_iterator(entropix::testing::testdata_dir() / "chat-templates")) {
    if (entry.path().extension() != ".jinja") continue;
    const ChatTemplate t(entropix::testing::read_file(entry.path()), entry.path().filename().string());
    // A render past the time budget throws, so rendering at all is the check; how fast it
    // renders is no test's business (a tenth of the budget failed on a loaded CI machine).
    std::string prompt;
    EXPECT_NO_THROW(prompt = t.apply(messages, true, "<s>", "</s>")) << entry.path();
    EXPECT_GT(prompt.size(), 1023u * 990u) << entry.path();
    ++rendered;
  }
  EXPECT_GT(rendered, 0);
}

TEST(ChatJinjaLimits, RegressionTemplatesEndWithinTheLimits) {
  int ran = 0;
  for (const auto& entry : std::filesystem::directory_iterator(entropix::testing::source_dir() / "tests" / "data" / "jinja")) {
    if (entry.path().extension() != ".jinja") continue;
    const Outcome o = run(entropix::testing::read_file(entry.path()));
    EXPECT_LT(o.seconds, kBoundedSeconds) << entry.path();
    ++ran;
  }
  EXPECT_GT(ran, 0);
}

// split, replace, find, count and `in` with a long pattern that almost matches
// everywhere: a plain search compares the whole pattern at each position (hours
// here); these are linear. Outputs as Python's str gives them.
TEST(ChatJinjaLimits, SearchingForALongPatternTakesLinearTime) {
  const std::string pat = "('a' * 200000 + 'b')";
  const std::string text = "('a' * 2000000 + 'b')";
  const Outcome o = run("{{ ('a' * 2000000).split(" + pat + ")|length }}|{{ (" + pat + " * 3).split(" + pat +
                        ")|length }}|{{ " + pat + " in " + text + " }}|{{ " + text + ".count(" + pat + ") }}|{{ " +
                        text + ".find(" + pat + ") }}|{{ " + text + ".replace(" + pat + ", 'X')|length }}");
  EXPECT_EQ(o.error, "");
  EXPECT_EQ(o.output, "1|4|True|1|1800000|1800001");
  EXPECT_LT(o.seconds, kBoundedSeconds);
}

TEST(ChatJinjaLimits, SubstringFinderAgreesWithThePlainSearch) {
  std::mt19937 rng(7);
  for (int round = 0; round < 300; ++round) {
    // A two-letter alphabet makes partial matches (the hard case) common.
    auto word = [&](size_t n) {
      std::string w(n, 'a');
      for (char& c : w) c = rng() % 3 == 0 ? 'b' : 'a';
      return w;
    };
    const std::string pattern = word(1 + rng() % 24), text = word(rng() % 200);
    const entropix::jinja::SubstringFinder finder(pattern);
    for (size_t from = 0; from <= text.size() + 1; from += 1 + rng() % 7) {
      EXPECT_EQ(finder.find(text, from), text.find(pattern, from)) << pattern << " in " << text << " from " << from;
    }
  }
}

TEST(ChatJinjaLimits, ErrorsNameTheTemplate) {
  try {
    ChatTemplate("{{ 1" + repeat(" + 1", 20000) + " }}", "the --chat-template file");
    FAIL() << "expected an Error";
  } catch (const entropix::Error& e) {
    EXPECT_NE(std::string(e.what()).find("the --chat-template file"), std::string::npos) << e.what();
  }
  const ChatTemplate t("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
                       "tokenizer.chat_template");
  try {
    t.render(chat_context());
    FAIL() << "expected an Error";
  } catch (const entropix::Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.chat_template"), std::string::npos) << e.what();
  }
}

}  // namespace
