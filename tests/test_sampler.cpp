// Base sampler: property tests against a brute-force reference of the
// documented chain (temperature, top-k, top-p, min-p, draw) and the seeded Rng.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "core/error.h"
#include "entropix/token_sampler.h"
#include "sampling/rng.h"
#include "sampling/sampler.h"
#include "sampling/top_k.h"
#include "support.h"

using namespace entropix;

namespace {

// The filtered, renormalised distribution by full sort, in float64.
std::map<int32_t, double> reference(const std::vector<float>& l, const SamplingParams& p) {
  const size_t n = l.size();
  std::vector<int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return l[a] > l[b]; });
  std::map<int32_t, double> out;
  if (!(p.temperature > 0) || p.top_k == 1) {
    out[order[0]] = 1.0;
    return out;
  }
  const double m = l[order[0]];
  std::vector<double> q(n);
  for (size_t i = 0; i < n; ++i) q[i] = std::exp((l[i] - m) / static_cast<double>(p.temperature));
  std::vector<int32_t> s = order;
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < n) s.resize(static_cast<size_t>(p.top_k));
  double z = 0;
  for (int32_t i : s) z += q[i];
  if (p.top_p < 1) {
    double cum = 0;
    for (size_t j = 0; j < s.size(); ++j) {
      cum += q[s[j]];
      if (cum >= p.top_p * z) {
        s.resize(j + 1);
        break;
      }
    }
  }
  double total = 0;
  for (int32_t i : s)
    if (q[i] > 0 && (p.min_p <= 0 || q[i] >= p.min_p)) {
      out[i] = q[i];
      total += q[i];
    }
  for (auto& [id, w] : out) w /= total;
  return out;
}

std::vector<float> random_logits(std::mt19937& gen, size_t n, float scale) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> l(n);
  for (auto& x : l) x = d(gen);
  return l;
}

void expect_same_distribution(const Sampler& s, const std::map<int32_t, double>& ref, const std::string& what) {
  const auto got = s.distribution();
  ASSERT_EQ(got.size(), ref.size()) << what;
  for (const auto& [id, p] : got) {
    ASSERT_TRUE(ref.count(id)) << what << " kept token " << id << " that the reference drops";
    EXPECT_NEAR(p, ref.at(id), 1e-6) << what << " token " << id;
  }
}

}  // namespace

TEST(Sampler, TemperatureZeroIsExactArgmaxLowestIdOnTies) {
  Sampler s;
  Rng rng(1);
  std::vector<float> l{1.0f, 3.0f, -std::numeric_limits<float>::infinity(), 3.0f, 2.9999998f};
  for (int i = 0; i < 10; ++i) EXPECT_EQ(s.sample(l, {0.0f, 0, 1.0f, 0.0f}, rng), 1);
  EXPECT_EQ(s.sample(l, {1.0f, 1, 1.0f, 0.0f}, rng), 1);  // top_k = 1 is argmax too
  std::mt19937 gen(5);
  for (int t = 0; t < 20; ++t) {
    auto big = random_logits(gen, 128256, 3.0f);
    const auto best = std::max_element(big.begin(), big.end()) - big.begin();
    EXPECT_EQ(s.sample(big, {0.0f, 40, 0.5f, 0.1f}, rng), best);
  }
}

TEST(Sampler, TopKNeverYieldsOutsideTheKBest) {
  std::mt19937 gen(11);
  Sampler s;
  Rng rng(2);
  for (int t = 0; t < 200; ++t) {
    const size_t n = 11 + gen() % 300;  // > k
    auto l = random_logits(gen, n, 0.5f + static_cast<float>(gen() % 4));
    const int32_t k = 1 + static_cast<int32_t>(gen() % 10);
    std::vector<float> sorted = l;
    std::sort(sorted.begin(), sorted.end(), std::greater<>());
    const float kth = sorted[static_cast<size_t>(k) - 1];
    for (int d = 0; d < 50; ++d) ASSERT_GE(l[static_cast<size_t>(s.sample(l, {1.5f, k, 1.0f, 0.0f}, rng))], kth);
  }
}

TEST(Sampler, SelectTopKMatchesFullSort) {
  std::mt19937 gen(3);
  std::vector<Candidate> out;
  for (size_t n : {1u, 10u, 1000u, 128256u}) {
    auto l = random_logits(gen, n, 2.0f);
    l[n / 2] = l[0];  // a tie: the lower id first
    std::vector<int32_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return l[a] > l[b]; });
    for (size_t k : {1u, 5u, 64u, 2000u}) {
      select_top_k(l, k, out);
      ASSERT_EQ(out.size(), std::min(k, n));
      for (size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i].id, order[i]) << n << " " << k << " " << i;
    }
  }
}

TEST(Sampler, ChainMatchesBruteForceReferenceOnSmallVocabularies) {
  std::mt19937 gen(17);
  Sampler s;
  const float temps[] = {0.3f, 0.7f, 1.0f, 1.6f};
  const int32_t ks[] = {0, 1, 3, 8, 50};
  const float ps[] = {1.0f, 0.95f, 0.8f, 0.5f, 0.1f};
  const float mins[] = {0.0f, 0.01f, 0.05f, 0.3f};
  int checked = 0;
  for (int t = 0; t < 60; ++t) {
    const size_t n = 2 + gen() % 60;
    auto l = random_logits(gen, n, 0.5f + static_cast<float>(gen() % 5));
    if (t % 7 == 0) l[gen() % n] = -std::numeric_limits<float>::infinity();
    for (float T : temps)
      for (int32_t k : ks)
        for (float p : ps)
          for (float mp : mins) {
            const SamplingParams sp{T, k, p, mp};
            s.prepare(l, sp);
            expect_same_distribution(s, reference(l, sp),
                                     "n=" + std::to_string(n) + " T=" + std::to_string(T) + " k=" + std::to_string(k) +
                                         " p=" + std::to_string(p) + " min_p=" + std::to_string(mp));
            ++checked;
          }
  }
  EXPECT_EQ(checked, 60 * 4 * 5 * 5 * 4);
}

TEST(Sampler, TopPKeepsSmallestDescendingPrefixReachingP) {
  // Probabilities 0.5, 0.25, 0.125, 0.0625, ... : the prefix reaching p is known.
  std::vector<float> l;
  for (int i = 0; i < 12; ++i) l.push_back(-static_cast<float>(i) * std::log(2.0f));
  std::reverse(l.begin(), l.end());  // ascending ids hold ascending probabilities
  Sampler s;
  s.prepare(l, {1.0f, 0, 0.70f, 0.0f});
  auto d = s.distribution();
  ASSERT_EQ(d.size(), 2u);  // 0.5 + 0.25 >= 0.70
  EXPECT_EQ(d[0].first, 11);
  EXPECT_EQ(d[1].first, 10);
  s.prepare(l, {1.0f, 0, 0.76f, 0.0f});
  EXPECT_EQ(s.distribution().size(), 3u);
  s.prepare(l, {1.0f, 0, 0.4f, 0.0f});
  EXPECT_EQ(s.distribution().size(), 1u);
}

TEST(Sampler, MinPReallyFilters) {
  std::vector<float> l{std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  Sampler s;
  s.prepare(l, {1.0f, 0, 1.0f, 0.2f});  // keep p >= 0.1
  auto d = s.distribution();
  ASSERT_EQ(d.size(), 3u);
  EXPECT_NEAR(d[0].second, 0.5 / 0.95, 1e-6);
  s.prepare(l, {1.0f, 0, 1.0f, 0.61f});  // keep p >= 0.305
  EXPECT_EQ(s.distribution().size(), 1u);
}

TEST(Sampler, TopPAloneOn128kVocabularyMatchesReference) {
  ENTROPIX_REQUIRE_TESTDATA();
  const std::string bytes = entropix::testing::read_file(entropix::testing::testdata_dir() / "logits-128256.f32");
  std::vector<float> l(bytes.size() / 4);
  std::memcpy(l.data(), bytes.data(), l.size() * 4);
  Sampler s(l.size());
  for (float p : {0.5f, 0.9f, 0.99f}) {
    const SamplingParams sp{1.0f, 0, p, 0.0f};
    s.prepare(l, sp);
    expect_same_distribution(s, reference(l, sp), "top_p=" + std::to_string(p));
  }
  const SamplingParams mp{0.8f, 0, 0.95f, 0.001f};
  s.prepare(l, mp);
  expect_same_distribution(s, reference(l, mp), "top_p+min_p");
}

TEST(Sampler, EmpiricalFrequenciesMatchFilteredDistribution) {
  const std::vector<float> l{2.0f, 1.5f, 1.4f, 0.3f, 0.0f, -0.5f, -1.0f, -3.0f, -6.0f, 1.0f};
  for (const SamplingParams sp : {SamplingParams{0.7f, 8, 0.97f, 0.01f}, SamplingParams{1.0f, 0, 1.0f, 0.0f},
                                  SamplingParams{1.3f, 0, 0.9f, 0.0f}}) {
    Sampler s;
    Rng rng(42);
    const auto ref = reference(l, sp);
    std::map<int32_t, int> counts;
    const int n = 200000;
    for (int i = 0; i < n; ++i) ++counts[s.sample(l, sp, rng)];
    double chi2 = 0;
    for (const auto& [id, c] : counts) ASSERT_TRUE(ref.count(id)) << "drew filtered-out token " << id;
    for (const auto& [id, p] : ref) {
      const double e = p * n;
      chi2 += (counts[id] - e) * (counts[id] - e) / e;
    }
    const double df = static_cast<double>(ref.size() - 1);
    // Mean df, sd sqrt(2 df): a generous bound that a wrong distribution exceeds by far.
    EXPECT_LT(chi2, df + 8 * std::sqrt(2 * df) + 10) << "T=" << sp.temperature << " chi2=" << chi2;
  }
}

TEST(Sampler, LogitsAreNotModified) {
  std::mt19937 gen(4);
  auto l = random_logits(gen, 5000, 2.0f);
  const auto copy = l;
  Sampler s;
  Rng rng(9);
  for (const SamplingParams sp : {SamplingParams{0.7f, 20, 0.9f, 0.05f}, SamplingParams{1.0f, 0, 1.0f, 0.0f},
                                  SamplingParams{0.5f, 0, 0.8f, 0.0f}})
    s.sample(l, sp, rng);
  EXPECT_EQ(std::memcmp(l.data(), copy.data(), l.size() * 4), 0);
}

TEST(Rng, SameSeedSameSequenceAndForksAreIndependent) {
  Rng a(123), b(123), c(124);
  std::vector<uint64_t> va, vb, vc;
  for (int i = 0; i < 100; ++i) {
    va.push_back(a.next_u64());
    vb.push_back(b.next_u64());
    vc.push_back(c.next_u64());
  }
  EXPECT_EQ(va, vb);
  EXPECT_NE(va, vc);
  const auto before = a.state();
  Rng f1 = a.fork(1), f1b = a.fork(1), f2 = a.fork(2);
  EXPECT_EQ(a.state(), before);  // forking does not advance the parent
  int same12 = 0, same_parent = 0;
  for (int i = 0; i < 1000; ++i) {
    const uint64_t x1 = f1.next_u64(), x1b = f1b.next_u64(), x2 = f2.next_u64(), p = a.next_u64();
    EXPECT_EQ(x1, x1b);
    same12 += x1 == x2;
    same_parent += x1 == p;
  }
  EXPECT_EQ(same12, 0);
  EXPECT_EQ(same_parent, 0);
  double sum = 0;
  for (int i = 0; i < 100000; ++i) {
    const double u = a.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  EXPECT_NEAR(sum / 100000, 0.5, 0.01);
}

TEST(Sampler, SameSeedSameTokensDifferentSeedsDiffer) {
  std::mt19937 gen(8);
  auto l = random_logits(gen, 32000, 1.0f);
  auto run = [&](uint64_t seed) {
    Sampler s;
    Rng rng(seed);
    std::vector<int32_t> out;
    for (int i = 0; i < 50; ++i) out.push_back(s.sample(l, {1.0f, 0, 0.95f, 0.0f}, rng));
    return out;
  };
  EXPECT_EQ(run(5), run(5));
  EXPECT_NE(run(5), run(6));
}

TEST(StandardSampler, OutcomeCarriesLogprobAlternativesAndRestMass) {
  std::vector<float> l{0.1f, 2.0f, 1.0f, -1.0f, 0.5f, 3.0f, -2.0f};
  Profile prof;
  prof.n_alternatives = 3;
  StandardSampler ss({0.8f, 0, 1.0f, 0.0f}, prof);
  Rng rng(1);
  const SampleOutcome o = ss.step(l, nullptr, rng);
  double z = 0;
  for (float x : l) z += std::exp(static_cast<double>(x));
  EXPECT_NEAR(o.logprob, l[static_cast<size_t>(o.token)] - std::log(z), 1e-6);
  ASSERT_EQ(o.n_alternatives, 3);
  EXPECT_EQ(o.alternatives[0].id, 5);
  EXPECT_EQ(o.alternatives[1].id, 1);
  EXPECT_EQ(o.alternatives[2].id, 2);
  EXPECT_NEAR(o.alternatives[0].prob, std::exp(3.0 - std::log(z)), 1e-6);
  double mass = o.rest_mass;
  for (const auto& a : o.alternatives_span()) mass += a.prob;
  EXPECT_NEAR(mass, 1.0, 1e-9);
  EXPECT_EQ(o.action, Action::Standard);
  EXPECT_EQ(o.params.temperature, 0.8f);
  EXPECT_EQ(o.metrics.top1, 5);
}
