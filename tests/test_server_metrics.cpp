// GET /metrics: the Prometheus text format, and counts that agree with the
// responses the clients got.
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <cctype>
#include <set>
#include <sstream>
#include <thread>

#include "server/metrics.h"
#include "server_fixture.h"

using nlohmann::json;
using namespace entropix;
using namespace entropix::server;
using namespace entropix::testing;

namespace {

bool metric_name(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s)
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_' || c == ':'))
      return false;
  return true;
}

// {a="x",b="y"}: label names, quoted values, commas between.
bool label_set(const std::string& s) {
  if (s.size() < 2 || s.front() != '{' || s.back() != '}') return false;
  size_t at = 1;
  while (at < s.size() - 1) {
    const size_t eq = s.find("=\"", at);
    if (eq == std::string::npos || !metric_name(s.substr(at, eq - at))) return false;
    const size_t close = s.find('"', eq + 2);
    if (close == std::string::npos) return false;
    at = close + 1;
    if (s[at] == ',') ++at;
    else if (at != s.size() - 1) return false;
  }
  return true;
}

// Samples by "name{labels}", after checking the exposition format line by line:
// a HELP and a TYPE before each family, counters named *_total, numeric values.
std::map<std::string, double> parse_exposition(const std::string& text) {
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;  // metric family -> type
  std::set<std::string> helped;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string hash, keyword, name, type;
    if (line.rfind("# HELP ", 0) == 0) {
      words >> hash >> keyword >> name;
      EXPECT_TRUE(metric_name(name)) << line;
      helped.insert(name);
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      words >> hash >> keyword >> name >> type;
      EXPECT_TRUE(helped.count(name)) << "no # HELP before " << line;
      EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram" || type == "summary") << line;
      if (type == "counter") {
        EXPECT_TRUE(name.ends_with("_total")) << line;
      }
      types[name] = type;
      continue;
    }
    const size_t space = line.rfind(' ');
    const std::string key = line.substr(0, space == std::string::npos ? 0 : space);
    const size_t brace = key.find('{');
    std::string family = key.substr(0, brace);
    if (space == std::string::npos || !metric_name(family) || (brace != std::string::npos && !label_set(key.substr(brace)))) {
      ADD_FAILURE() << "not a sample line: " << line;
      continue;
    }
    for (const char* suffix : {"_bucket", "_sum", "_count"})
      if (!types.count(family) && family.ends_with(suffix)) family.resize(family.size() - std::strlen(suffix));
    EXPECT_TRUE(types.count(family)) << "no # TYPE before " << line;
    const std::string value = line.substr(space + 1);
    samples[key] = value == "+Inf" ? INFINITY : std::stod(value);
  }
  return samples;
}

TEST(Metrics, HistogramIsCumulativeWithInfBucket) {
  Metrics m;
  m.observe_time_to_first_token(0.02);
  m.observe_time_to_first_token(0.3);
  m.observe_time_to_first_token(100);
  const auto s = parse_exposition(m.render({}));
  EXPECT_EQ(s.at("entropix_time_to_first_token_seconds_bucket{le=\"0.025\"}"), 1);
  EXPECT_EQ(s.at("entropix_time_to_first_token_seconds_bucket{le=\"0.5\"}"), 2);
  EXPECT_EQ(s.at("entropix_time_to_first_token_seconds_bucket{le=\"+Inf\"}"), 3);
  EXPECT_EQ(s.at("entropix_time_to_first_token_seconds_count"), 3);
  EXPECT_NEAR(s.at("entropix_time_to_first_token_seconds_sum"), 100.32, 1e-9);
}

TEST(Metrics, RecentRateCountsTheLastSeconds) {
  Metrics m;
  const auto t0 = Metrics::Clock::now();
  for (int i = 0; i < 20; ++i) m.count_step(State::LELV, 5, t0 + std::chrono::milliseconds(100 * i));  // 100 in 2 s
  // Five seconds after the first step the window is as long as the server has run.
  EXPECT_NEAR(m.recent_tokens_per_second(t0 + std::chrono::milliseconds(5000)), 100.0 / 5.0, 0.1);
  EXPECT_EQ(m.recent_tokens_per_second(t0 + std::chrono::seconds(30)), 0.0);  // all older than the window
}

TEST(ServerMetrics, CountsAgreeWithTheResponses) {
  DemoServer s;
  int prompt = 0, generated = 0;
  for (const char* p : {"Q: 2 + 2?\nA:", kArithmeticPrompt}) {
    const json r = s.post("/v1/completions", {{"prompt", p}, {"max_tokens", 8}, {"temperature", 0}});
    prompt += r["usage"]["prompt_tokens"].get<int>();
    generated += r["usage"]["completion_tokens"].get<int>();
  }
  const json three = s.post("/v1/completions", {{"prompt", "Q:"}, {"max_tokens", 5}, {"temperature", 0}, {"n", 3}});
  prompt += three["usage"]["prompt_tokens"].get<int>();  // prefilled once for all three choices
  generated += three["usage"]["completion_tokens"].get<int>();
  s.raw_post("/v1/completions", "{");
  s.client(false).Get("/v1/models");
  s.client().Get("/no/such/route");

  // A request is counted after its response is sent, on its connection's thread: poll a moment.
  std::map<std::string, double> m;
  for (int i = 0; i < 200; ++i) {
    m = parse_exposition(s.metrics());
    if (m["entropix_requests_total{endpoint=\"/v1/completions\",code=\"200\"}"] == 3 &&
        m["entropix_requests_total{endpoint=\"/v1/completions\",code=\"400\"}"] == 1 &&
        m["entropix_requests_total{endpoint=\"/v1/models\",code=\"401\"}"] == 1 &&
        m["entropix_requests_total{endpoint=\"other\",code=\"404\"}"] == 1)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(m["entropix_requests_total{endpoint=\"/v1/completions\",code=\"200\"}"], 3) << s.metrics();
  EXPECT_EQ(m["entropix_requests_total{endpoint=\"/v1/completions\",code=\"400\"}"], 1);
  EXPECT_EQ(m["entropix_requests_total{endpoint=\"/v1/models\",code=\"401\"}"], 1);
  EXPECT_EQ(m["entropix_requests_total{endpoint=\"other\",code=\"404\"}"], 1);
  EXPECT_EQ(m["entropix_prompt_tokens_total"], prompt);
  EXPECT_EQ(m["entropix_generated_tokens_total"], generated);
  double steps = 0;
  for (const char* state : {"LELV", "HELV", "LEHV", "HEHV", "ADAPTIVE"}) {
    const std::string key = std::string("entropix_token_states_total{state=\"") + state + "\"}";
    ASSERT_TRUE(m.count(key)) << key;
    steps += m[key];
  }
  // Greedy appends one token per step, and a step that chose the end of text appends none.
  EXPECT_GE(steps, generated);
  EXPECT_LE(steps, generated + 5);
  EXPECT_EQ(m["entropix_time_to_first_token_seconds_count"], 3);
  EXPECT_EQ(m["entropix_request_duration_seconds_count{endpoint=\"/v1/completions\"}"], 3);
  EXPECT_EQ(m["entropix_finished_requests_total"], 3);
  EXPECT_EQ(m["entropix_active_sequences"], 0);
  EXPECT_EQ(m["entropix_queue_length"], 0);
  EXPECT_GT(m["entropix_tokens_per_second"], 0);
}

}  // namespace
