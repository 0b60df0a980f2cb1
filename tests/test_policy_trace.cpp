// Trace records: one JSON line per token with everything the sampler computed;
// the recorded states re-derive from the recorded metrics and the profile.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "entropix/token_sampler.h"
#include "entropix/trace.h"
#include "support.h"

using namespace entropix;

namespace {

std::vector<std::vector<float>> vector_rows() {
  const auto v = nlohmann::json::parse(
      entropix::testing::read_file(entropix::testing::testdata_dir() / "entropix-vectors.json"));
  std::vector<std::vector<float>> rows;
  for (const auto& c : v["logit_cases"]) {
    std::vector<float> l;
    for (const auto& x : c["logits"])
      l.push_back(x.is_string() ? -std::numeric_limits<float>::infinity() : x.get<float>());
    rows.push_back(std::move(l));
  }
  const std::string bytes = entropix::testing::read_file(entropix::testing::testdata_dir() / "logits-128256.f32");
  std::vector<float> big(bytes.size() / 4);
  std::memcpy(big.data(), bytes.data(), big.size() * 4);
  rows.push_back(std::move(big));
  return rows;
}

}  // namespace

TEST(Trace, RecordedStatesRederiveFromMetricsAndProfile) {
  ENTROPIX_REQUIRE_TESTDATA();
  Profile p;
  p.thresholds = {0.1, 3.0, 0.1, 3.0};  // the thresholds of entropix-vectors.json
  p.branching = true;
  EntropixSampler es(p);
  Rng rng(2024);
  std::ostringstream jsonl;
  int64_t index = 0;
  const auto rows = vector_rows();
  for (int pass = 0; pass < 2; ++pass)
    for (const auto& row : rows) {
      const SampleOutcome o = es.step(row, nullptr, rng);
      jsonl << trace_line(trace_record(o, o.insert_thinking ? o.thinking_text : "tok", index++)) << "\n";
    }
  std::istringstream in(jsonl.str());
  std::string line;
  int n = 0, states_seen = 0;
  std::set<std::string> seen;
  while (std::getline(in, line)) {
    const auto r = nlohmann::json::parse(line);
    ++n;
    const State recorded = parse_state(r["state"].get<std::string>()).value();
    EXPECT_EQ(state_from_trace(r, p), recorded) << line;
    seen.insert(r["state"]);
    double mass = r["rest_mass"].get<double>();
    for (const auto& a : r["alternatives"]) mass += a["prob"].get<double>();
    EXPECT_NEAR(mass, 1.0, 1e-9);
    EXPECT_EQ(r["alternatives"].size(), std::min<size_t>(5, rows[static_cast<size_t>(n - 1) % rows.size()].size()));
    const Action action = parse_action(r["action"].get<std::string>()).value();
    if (action == Action::InsertThinking) {
      EXPECT_TRUE(r["id"].is_null());
      EXPECT_EQ(r["thinking_text"], " Wait,");
    } else {
      EXPECT_TRUE(r["id"].is_number_integer());
      EXPECT_LE(r["logprob"].get<double>(), 0.0);
    }
    EXPECT_EQ(r["branch"].get<bool>(), action == Action::Branch);
    for (const char* k : {"temperature", "top_k", "top_p", "min_p"}) EXPECT_TRUE(r["params"].contains(k)) << k;
    for (const char* k : {"entropy", "varentropy", "top1", "top1_prob", "top2", "top2_prob", "attention"})
      EXPECT_TRUE(r["metrics"].contains(k)) << k;
  }
  states_seen = static_cast<int>(seen.size());
  EXPECT_EQ(n, 2 * static_cast<int>(rows.size()));
  EXPECT_GE(states_seen, 3);  // the vectors cover several quadrants
  // With other thresholds the same records classify differently: the check is real.
  Profile q = p;
  q.thresholds = {10.0, 20.0, 30.0, 40.0};
  EXPECT_EQ(state_from_trace(nlohmann::json::parse(jsonl.str().substr(0, jsonl.str().find('\n'))), q), State::LELV);
}

TEST(Trace, RecordCarriesAttentionAndExactValues) {
  Profile p;
  p.thresholds = {0.1, 3.0, 0.1, 3.0};
  p.policy = PolicyVariant::V2;
  EntropixSampler es(p);
  const std::vector<float> l{3.0f, 1.0f, 0.5f, -1.0f};
  const AttentionMetrics a{2.5, 0.25, 0.01, 1.75};
  Rng rng(5);
  const SampleOutcome o = es.step(l, &a, rng);
  const auto r = nlohmann::json::parse(trace_line(trace_record(o, "\xff" "ab", 7)));
  EXPECT_EQ(r["index"], 7);
  EXPECT_EQ(r["piece"], "\xef\xbf\xbd" "ab");  // invalid UTF-8 replaced
  EXPECT_EQ(r["id"], o.token);
  EXPECT_DOUBLE_EQ(r["logprob"].get<double>(), o.logprob);
  EXPECT_DOUBLE_EQ(r["metrics"]["attention"]["interaction"].get<double>(), 1.75);
  EXPECT_DOUBLE_EQ(r["metrics"]["entropy"].get<double>(), o.metrics.entropy);
  EXPECT_EQ(r["params"]["top_k"], o.params.top_k);
  EXPECT_EQ(r["n_candidates"], o.n_candidates);
  const TokenMetrics m = metrics_from_trace(r);
  EXPECT_TRUE(m.has_attention);
  EXPECT_EQ(m.agreement, 0.01);
  EXPECT_EQ(state_from_trace(r, p), o.state);
  auto broken = r;
  broken["metrics"].erase("varentropy");
  try {
    metrics_from_trace(broken);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("metrics.varentropy"), std::string::npos) << e.what();
  }
}
