// The prefix cache (model/prefix_cache.h). On a bare KV cache, whose "forward pass"
// writes a key that is a function of the tokens up to each position: the tree against
// a reference model under random operations, the keys of every cached prefix, eviction
// order, pinning, the budget and page accounting. On the engine: a prompt read through
// the cache gives bit for bit the logits it gives read whole, on every weight type; and
// the decoding loops give the same answers with and without a cache.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <vector>

#include "core/error.h"
#include "decoding/generate.h"
#include "decoding/strategy.h"
#include "model/engine.h"
#include "model/kv_cache.h"
#include "model/prefix_cache.h"
#include "support.h"
#include "tokenizer/tokenizer.h"

using namespace entropix;

namespace {

constexpr int32_t P = KvCache::kPageSize;

// The stand-in forward pass: the key of position `pos` hashes the tokens up to it.
float key_of(std::span<const int32_t> tokens, size_t pos) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i <= pos; ++i) {
    h ^= static_cast<uint64_t>(tokens[i]) + 0x9e3779b9ull;
    h *= 1099511628211ull;
  }
  return static_cast<float>(h % 1000003ull);
}

// Appends tokens[from..] to seq, each position with its key.
void append(KvCache& kv, int32_t seq, std::span<const int32_t> tokens, size_t from) {
  for (size_t p = from; p < tokens.size(); ++p) {
    std::vector<float> key(static_cast<size_t>(kv.kv_dim()), 0.0f);
    key[0] = key_of(tokens, p);
    kv.write_key(0, kv.append(seq), key.data());
  }
}

// Whether seq's first n positions hold the keys of tokens.
bool keys_match(const KvCache& kv, int32_t seq, std::span<const int32_t> tokens, size_t n) {
  for (size_t p = 0; p < n; ++p) {
    if (kv.key(0, kv.slot(seq, static_cast<int32_t>(p)), 0) != key_of(tokens, p)) return false;
  }
  return true;
}

// Reads tokens into a new sequence through the cache (the cached part is checked).
PrefixMatch read(KvCache& kv, PrefixCache& cache, std::span<const int32_t> tokens) {
  PrefixMatch m = cache.match(tokens);
  EXPECT_TRUE(keys_match(kv, m.seq, tokens, static_cast<size_t>(m.n_cached)));
  append(kv, m.seq, tokens, static_cast<size_t>(m.n_cached));
  return m;
}

// Reads tokens through the cache and leaves them in it, as a finished request does.
void cache_text(KvCache& kv, PrefixCache& cache, std::span<const int32_t> tokens) {
  cache.retire(tokens, read(kv, cache, tokens).seq);
}

// Whether the whole of tokens comes back from the cache (all but the last one) with its keys.
bool comes_back(KvCache& kv, PrefixCache& cache, std::span<const int32_t> tokens) {
  PrefixMatch m = read(kv, cache, tokens);
  const bool ok = m.n_cached + 1 == static_cast<int32_t>(tokens.size()) && keys_match(kv, m.seq, tokens, tokens.size());
  kv.free_sequence(m.seq);
  return ok;
}

std::vector<int32_t> seq_of(std::initializer_list<int32_t> head, int32_t n, int32_t base) {
  std::vector<int32_t> t(head);
  for (int32_t i = 0; i < n; ++i) t.push_back(base + i);
  return t;
}

size_t common_prefix(std::span<const int32_t> a, std::span<const int32_t> b) {
  size_t k = 0;
  while (k < a.size() && k < b.size() && a[k] == b[k]) ++k;
  return k;
}

// What the tree should hold: exactly the prefixes of these sequences.
struct Reference {
  std::vector<std::vector<int32_t>> seqs;

  int32_t longest(std::span<const int32_t> t) const {
    size_t best = 0;
    for (const auto& s : seqs) best = std::max(best, common_prefix(s, t));
    return static_cast<int32_t>(best);
  }
  void add(std::span<const int32_t> t) { seqs.emplace_back(t.begin(), t.end()); }
  // After an eviction: keeps what the cache still holds of each sequence.
  void sync(const PrefixCache& cache) {
    for (auto& s : seqs) s.resize(static_cast<size_t>(cache.cached_length(s)));
    std::erase_if(seqs, [](const auto& s) { return s.empty(); });
  }
};

}  // namespace

TEST(PrefixCache, MatchTakesTheLongestPrefixButLeavesTheLastTokenToRead) {
  KvCache kv(1, 1, 1024, KvType::F32);  // keys are exact tags
  PrefixCache cache(kv);
  const auto a = seq_of({}, 40, 100);
  cache_text(kv, cache, a);

  PrefixMatch m = read(kv, cache, a);  // the whole prompt cached: its last token is read again
  EXPECT_EQ(m.n_cached, 39);
  kv.free_sequence(m.seq);
  auto longer = a;
  longer.push_back(7);
  m = read(kv, cache, longer);
  EXPECT_EQ(m.n_cached, 40);
  kv.free_sequence(m.seq);
  auto branch = std::vector<int32_t>(a.begin(), a.begin() + 21);
  branch.push_back(5);
  branch.push_back(6);
  m = read(kv, cache, branch);
  EXPECT_EQ(m.n_cached, 21);
  EXPECT_TRUE(keys_match(kv, m.seq, branch, branch.size()));
  kv.free_sequence(m.seq);
  m = read(kv, cache, seq_of({1}, 5, 100));
  EXPECT_EQ(m.n_cached, 0);
  kv.free_sequence(m.seq);
  m = cache.match(std::vector<int32_t>{100});  // one token: nothing to take
  EXPECT_EQ(m.n_cached, 0);
  EXPECT_EQ(kv.length(m.seq), 0);
  kv.free_sequence(m.seq);

  const PrefixCacheStats s = cache.stats();
  EXPECT_EQ(s.lookups, 6);
  EXPECT_EQ(s.hits, 3);
  EXPECT_EQ(s.tokens_matched, 39 + 40 + 21);
  EXPECT_EQ(s.tokens_inserted, 40);
  EXPECT_EQ(s.pages_held, 3);
  EXPECT_EQ(cache.cached_length(a), 40);
  EXPECT_EQ(cache.cached_length(longer), 40);
}

// Branches that part inside a page: the common part is held once, each branch holds
// the pages after it, the branch that wrote into the shared page its own copy of it.
TEST(PrefixCache, BranchesShareTheirCommonPagesAndKeepTheirOwnKeys) {
  KvCache kv(1, 1, 1024, KvType::F32);  // keys are exact tags
  PrefixCache cache(kv);
  const auto a = seq_of({}, 70, 1);                       // pages 0-4
  cache_text(kv, cache, a);
  std::vector<int32_t> b(a.begin(), a.begin() + 37);       // parts in page 2
  for (int i = 0; i < 30; ++i) b.push_back(500 + i);       // to 67: pages 2' (its copy), 3', 4'
  PrefixMatch m = read(kv, cache, b);
  EXPECT_EQ(m.n_cached, 37);
  cache.retire(b, m.seq);
  EXPECT_EQ(cache.stats().pages_held, 5 + 3);
  EXPECT_EQ(kv.used_pages(), 8);
  EXPECT_TRUE(comes_back(kv, cache, a));
  EXPECT_TRUE(comes_back(kv, cache, b));
  // A third branch at a page boundary (48) holds only its own pages.
  auto c = std::vector<int32_t>(a.begin(), a.begin() + 48);
  for (int i = 0; i < 5; ++i) c.push_back(900 + i);
  m = read(kv, cache, c);
  EXPECT_EQ(m.n_cached, 48);
  cache.retire(c, m.seq);
  EXPECT_EQ(cache.stats().pages_held, 9);
  EXPECT_TRUE(comes_back(kv, cache, c));
  cache.clear();
  EXPECT_EQ(kv.used_pages(), 0);
}

// A paused sequence is cached, runs on, and is cached again; a sequence cut back and
// grown another way is cached as a branch of its own earlier text.
TEST(PrefixCache, APausedSequenceIsCachedAgainAsItGrows) {
  KvCache kv(1, 1, 1024, KvType::F32);  // keys are exact tags
  PrefixCache cache(kv);
  auto t = seq_of({}, 40, 1);
  PrefixMatch m = read(kv, cache, t);
  cache.insert(std::span<const int32_t>(t).first(35), m.seq);  // a part: its page holds positions past 35
  cache.insert(t, m.seq);
  EXPECT_EQ(cache.stats().pages_held, 3);
  for (int i = 0; i < 30; ++i) t.push_back(200 + i);
  append(kv, m.seq, t, 40);
  cache.insert(t, m.seq);
  EXPECT_EQ(cache.cached_length(t), 70);
  EXPECT_EQ(cache.stats().pages_held, 6);  // 0-2, then its copy of 2 and 3-4
  kv.truncate(m.seq, 30);
  auto u = std::vector<int32_t>(t.begin(), t.begin() + 30);
  for (int i = 0; i < 20; ++i) u.push_back(700 + i);
  append(kv, m.seq, u, 30);
  cache.retire(u, m.seq);
  EXPECT_TRUE(comes_back(kv, cache, t));
  EXPECT_TRUE(comes_back(kv, cache, u));
  EXPECT_THROW(cache.insert(t, kv.new_sequence()), Error);  // more tokens than the sequence holds
}

TEST(PrefixCache, TheLeastRecentlyUsedLeafIsEvictedFirst) {
  KvCache kv(1, 1, 1024, KvType::F32);  // keys are exact tags
  PrefixCache cache(kv);
  const auto a = seq_of({1}, 31, 10), b = seq_of({2}, 31, 10), c = seq_of({3}, 31, 10);
  for (const auto* t : {&a, &b, &c}) cache_text(kv, cache, *t);
  auto a_on = a;
  a_on.push_back(1);
  kv.free_sequence(read(kv, cache, a_on).seq);  // a is now the most recently used
  EXPECT_EQ(cache.reclaimable_pages(), 6);
  EXPECT_EQ(cache.evict(1), 2);
  EXPECT_EQ(cache.cached_length(b), 0);
  EXPECT_EQ(cache.cached_length(a), 32);
  EXPECT_EQ(cache.evict(1), 2);
  EXPECT_EQ(cache.cached_length(c), 0);
  EXPECT_EQ(cache.cached_length(a), 32);
  EXPECT_EQ(cache.stats().evictions, 2);
  EXPECT_EQ(cache.stats().pages_evicted, 4);
}

// Pages a live sequence reads are never evicted, and the tree keeps the entries that
// hold them; everything else goes when pages are needed.
TEST(PrefixCache, EntriesInUseArePinned) {
  KvCache kv(1, 1, 1024, KvType::F32);  // keys are exact tags
  PrefixCache cache(kv);
  const auto a = seq_of({}, 64, 1);
  cache_text(kv, cache, a);
  auto longer = a;
  longer.push_back(9);
  PrefixMatch live = read(kv, cache, longer);  // reads all four pages of a
  const auto b = seq_of({7}, 40, 1);
  cache_text(kv, cache, b);
  EXPECT_EQ(cache.reclaimable_pages(), 3);
  EXPECT_EQ(cache.evict(100), 3);
  EXPECT_EQ(cache.cached_length(a), 64);
  EXPECT_TRUE(keys_match(kv, live.seq, longer, longer.size()));
  EXPECT_EQ(cache.reclaimable_pages(), 0);
  kv.free_sequence(live.seq);
  EXPECT_EQ(cache.reclaimable_pages(), 4);
  EXPECT_EQ(cache.evict(100), 4);
  EXPECT_EQ(kv.used_pages(), 0);
}

// A match that ends inside an entry pins only its part: the rest can go.
TEST(PrefixCache, AMatchPinsOnlyWhatItReads) {
  KvCache kv(1, 1, 1024, KvType::F32);  // keys are exact tags
  PrefixCache cache(kv);
  const auto a = seq_of({}, 80, 1);
  cache_text(kv, cache, a);
  auto b = std::vector<int32_t>(a.begin(), a.begin() + 40);
  b.push_back(999);
  PrefixMatch live = read(kv, cache, b);  // reads pages 0-1 and its own copy of page 2
  EXPECT_EQ(live.n_cached, 40);
  EXPECT_EQ(cache.evict(100), 2);  // pages 3-4 of a; page 2 holds the first 40 positions with 0-1
  EXPECT_EQ(cache.cached_length(a), 40);
  EXPECT_TRUE(keys_match(kv, live.seq, b, b.size()));
  cache.retire(b, live.seq);
  EXPECT_EQ(cache.cached_length(b), 41);
}

// (c) A full KV cache evicts cached entries instead of refusing positions: every
// allocation that fits once the unpinned entries are gone succeeds.
TEST(PrefixCache, AFullKvCacheEvictsInsteadOfFailing) {
  KvCache kv(1, 1, 64, KvType::F32);  // keys are exact tags  // 4 pages, and 16 of slack
  const int32_t n_pages = kv.n_pages();
  PrefixCache cache(kv);
  for (int32_t i = 0; i < 12; ++i) {
    const auto t = seq_of({i}, 30, 1);  // two pages each
    cache_text(kv, cache, t);
  }
  EXPECT_EQ(kv.used_pages(), n_pages);  // the tree filled every page, evicting the oldest entries
  EXPECT_EQ(kv.free_positions(), n_pages * P);
  const auto pinned = seq_of({50}, 40, 1);
  PrefixMatch keep = read(kv, cache, pinned);
  cache.insert(pinned, keep.seq);  // a paused sequence: its pages stay
  const int32_t room = kv.free_positions();
  EXPECT_EQ(room, (n_pages - 3) * P);
  const int32_t big = kv.new_sequence();
  for (int32_t i = 0; i < room; ++i) ASSERT_NO_THROW(kv.append(big)) << i;
  EXPECT_THROW(kv.append(big), Error);
  EXPECT_TRUE(keys_match(kv, keep.seq, pinned, pinned.size()));
  EXPECT_EQ(cache.cached_length(pinned), 41);
  kv.free_sequence(big);
  kv.free_sequence(keep.seq);
  cache.clear();
  EXPECT_EQ(kv.used_pages(), 0);
}

// What a scheduler calls before it admits a request: room made ahead, not on demand.
TEST(PrefixCache, EvictUntilMakesTheRoomAskedFor) {
  KvCache kv(1, 1, 64, KvType::F32);  // keys are exact tags
  PrefixCache cache(kv);
  for (int32_t i = 0; i < 12; ++i) {
    const auto t = seq_of({i}, 30, 1);
    cache_text(kv, cache, t);
  }
  EXPECT_EQ(kv.free_pages(), 0);
  EXPECT_TRUE(cache.evict_until(5 * P));
  EXPECT_EQ(kv.free_pages(), 6);  // three entries of two pages
  EXPECT_TRUE(cache.evict_until(3 * P));  // already there: nothing more goes
  EXPECT_EQ(kv.free_pages(), 6);
  EXPECT_FALSE(cache.evict_until((kv.n_pages() + 1) * P));
  EXPECT_EQ(kv.free_pages(), kv.n_pages());
}

TEST(PrefixCache, TheBudgetBoundsWhatTheTreeKeeps) {
  KvCache kv(1, 1, 1024, KvType::F32);  // keys are exact tags
  PrefixCacheOptions o;
  o.max_pages = 5;
  PrefixCache cache(kv, o);
  for (int32_t i = 0; i < 10; ++i) {
    const auto t = seq_of({i}, 20 + i, 1);
    cache_text(kv, cache, t);
    EXPECT_LE(cache.stats().pages_held, 5);
    EXPECT_EQ(cache.cached_length(t), static_cast<int32_t>(t.size()));  // the newest stays
  }
  EXPECT_EQ(kv.used_pages(), cache.stats().pages_held);
  o.max_pages = -1;
  EXPECT_THROW((PrefixCache{kv, o}), Error);
}

// (d) Pages come back: clear() and the destructor give back every page the tree held.
TEST(PrefixCache, EveryPageComesBack) {
  KvCache kv(1, 1, 512, KvType::F32);  // keys are exact tags
  {
    PrefixCache cache(kv);
    EXPECT_THROW(PrefixCache second(kv), Error);
    for (int32_t i = 0; i < 5; ++i) {
      const auto t = seq_of({i % 2}, 25 + 7 * i, 1);
      cache_text(kv, cache, t);
    }
    EXPECT_GT(kv.used_pages(), 0);
    EXPECT_EQ(kv.used_pages(), cache.stats().pages_held);
  }
  EXPECT_EQ(kv.used_pages(), 0);
  EXPECT_EQ(kv.free_positions(), kv.n_pages() * P);
}

// (a) Random reads, growths, pauses, retirements, drops and evictions, checked at each
// step against the reference: the longest-prefix answers, the keys of every live
// sequence, what live sequences read staying cached, evictions freeing what they
// claimed, allocations that fit never failing, and the page count at the end.
TEST(PrefixCache, RandomOperationsAgreeWithAReferenceTree) {
  PrefixCacheStats total;  // over all seeds: the script did exercise hits and evictions
  for (uint32_t seed = 1; seed <= 24; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    KvCache kv(1, 1, 384, KvType::F32);  // keys are exact tags  // 24 pages and 16 of slack: evictions happen
    PrefixCacheOptions o;
    o.max_pages = seed % 3 == 0 ? 10 : 0;
    PrefixCache cache(kv, o);
    Reference ref;
    struct Live {
      int32_t seq;
      std::vector<int32_t> tokens;
      int32_t n_cached;
    };
    std::vector<Live> live;
    int64_t evictions_seen = 0;
    // Positions the cache can give without failing (free pages and unpinned entries).
    auto can_take = [&](int32_t seq, int32_t n) {
      const int32_t len = seq < 0 ? 0 : kv.length(seq);
      const int32_t pages = (len + n + P - 1) / P - (len + P - 1) / P + (len % P != 0 ? 1 : 0);
      return pages * P <= kv.free_positions();
    };
    auto random_tokens = [&]() {
      std::vector<int32_t> t;
      const int from = uniform(0, 2);
      if (from == 1 && !ref.seqs.empty()) t = ref.seqs[size_t(uniform(0, int(ref.seqs.size()) - 1))];
      if (from == 2 && !live.empty()) t = live[size_t(uniform(0, int(live.size()) - 1))].tokens;
      t.resize(size_t(uniform(0, int(t.size()))));
      const int tail = uniform(t.empty() ? 1 : 0, 40);
      for (int i = 0; i < tail; ++i) t.push_back(uniform(0, 3));
      return t;
    };
    for (int step = 0; step < 300; ++step) {
      const int op = uniform(0, 99);
      bool cached = false;  // an insert or a retirement this step
      if (op < 30 && live.size() < 4) {  // read
        std::vector<int32_t> t = random_tokens();
        const int32_t expected = std::min(static_cast<int32_t>(t.size()) - 1, ref.longest(t));
        PrefixMatch m = cache.match(t);
        ASSERT_EQ(m.n_cached, expected) << "step " << step;
        ASSERT_TRUE(keys_match(kv, m.seq, t, size_t(m.n_cached)));
        const int32_t rest = static_cast<int32_t>(t.size()) - m.n_cached;
        if (!can_take(m.seq, rest)) {
          kv.free_sequence(m.seq);
          continue;
        }
        ASSERT_NO_THROW(append(kv, m.seq, t, size_t(m.n_cached)));
        live.push_back({m.seq, t, m.n_cached});
      } else if (op < 45 && !live.empty()) {  // grow
        Live& l = live[size_t(uniform(0, int(live.size()) - 1))];
        const int n = uniform(1, 20);
        if (!can_take(l.seq, n) || static_cast<int32_t>(l.tokens.size()) + n > kv.capacity()) continue;
        const size_t from = l.tokens.size();
        for (int i = 0; i < n; ++i) l.tokens.push_back(uniform(0, 3));
        ASSERT_NO_THROW(append(kv, l.seq, l.tokens, from));
      } else if (op < 60 && !live.empty()) {  // pause: cache it and keep it
        Live& l = live[size_t(uniform(0, int(live.size()) - 1))];
        cache.insert(l.tokens, l.seq);
        ref.add(l.tokens);
        cached = true;
      } else if (op < 80 && !live.empty()) {  // retire
        const size_t i = size_t(uniform(0, int(live.size()) - 1));
        cache.retire(live[i].tokens, live[i].seq);
        ref.add(live[i].tokens);
        cached = true;
        live.erase(live.begin() + long(i));
      } else if (op < 88 && !live.empty()) {  // drop without caching
        const size_t i = size_t(uniform(0, int(live.size()) - 1));
        kv.free_sequence(live[i].seq);
        live.erase(live.begin() + long(i));
      } else if (op < 100) {  // evict
        const int32_t want = uniform(1, 12), claimed = cache.reclaimable_pages(), free_before = kv.free_pages();
        const int32_t freed = cache.evict(want);
        EXPECT_EQ(kv.free_pages() - free_before, freed);
        EXPECT_LE(freed, claimed);
        // Short of the pages asked for only when nothing is left to evict.
        if (freed < want || freed == claimed) {
          EXPECT_EQ(cache.reclaimable_pages(), 0);
        }
      }
      // What live sequences read from the tree stays in it: every whole page of their match.
      for (const Live& l : live) {
        ASSERT_TRUE(keys_match(kv, l.seq, l.tokens, l.tokens.size())) << "step " << step;
        const std::span<const int32_t> matched(l.tokens.data(), size_t(l.n_cached));
        EXPECT_GE(cache.cached_length(matched), l.n_cached / P * P) << "step " << step;
      }
      const PrefixCacheStats s = cache.stats();
      if (cached && o.max_pages > 0 && s.pages_held > o.max_pages) {
        EXPECT_EQ(cache.reclaimable_pages(), 0);  // after an insert, over the budget only with entries in use
      }
      // Nothing beyond the reference is cached; without eviction, all of it is.
      for (int probe = 0; probe < 4; ++probe) {
        const auto t = random_tokens();
        if (s.evictions == evictions_seen) ASSERT_EQ(cache.cached_length(t), ref.longest(t)) << "step " << step;
        else ASSERT_LE(cache.cached_length(t), ref.longest(t)) << "step " << step;
      }
      if (s.evictions != evictions_seen) {
        ref.sync(cache);
        evictions_seen = s.evictions;
      }
    }
    for (const Live& l : live) kv.free_sequence(l.seq);
    const int32_t held = cache.stats().pages_held;
    EXPECT_EQ(kv.used_pages(), held);
    EXPECT_EQ(cache.evict(kv.n_pages()), held);
    EXPECT_EQ(kv.used_pages(), 0);
    EXPECT_EQ(cache.stats().nodes, 0);
    total.hits += cache.stats().hits;
    total.evictions += cache.stats().evictions;
    total.tokens_matched += cache.stats().tokens_matched;
  }
  std::printf("random operations: %lld hits, %lld cached tokens served, %lld evictions\n",
              static_cast<long long>(total.hits), static_cast<long long>(total.tokens_matched),
              static_cast<long long>(total.evictions));
  EXPECT_GT(total.hits, 500);
  EXPECT_GT(total.evictions, 500);
}

// ---------------------------------------------------------------------------------------
// On the engine.

namespace {

std::vector<std::vector<float>> decode_rows(Engine& e, SeqId seq, std::span<const int32_t> tokens) {
  std::vector<BatchToken> batch;
  for (int32_t t : tokens) batch.push_back({seq, t, true});
  e.decode(batch);
  std::vector<std::vector<float>> rows;
  for (size_t i = 0; i < tokens.size(); ++i) rows.emplace_back(e.logits(i).begin(), e.logits(i).end());
  return rows;
}

}  // namespace

class PrefixCacheExactness : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

// A prompt P+Q read whole, against P read another way (in one batch, in chunks of 7,
// one token at a time as generated text would be, or in batches shared with another
// sequence), left in the cache, then P+Q matched and only Q read: every logit of Q's
// rows is the same bit for bit.
TEST_P(PrefixCacheExactness, ACachedPrefixGivesTheLogitsOfAWholeRead) {
  const auto [arch, type] = GetParam();
  const entropix::testing::TinyModelFile model(arch, type, 7);
  EngineOptions eo;
  eo.n_ctx = 512;
  eo.n_threads = 2;
  eo.max_batch = 64;  // the whole read goes through the forward pass in two chunks
  auto e = Engine::load(model.path.string(), eo);
  PrefixCache cache(e->kv_cache());
  std::mt19937 rng(3);
  std::vector<int32_t> p, q, other;
  for (int i = 0; i < 45; ++i) p.push_back(static_cast<int32_t>(rng() % 500));
  for (int i = 0; i < 30; ++i) q.push_back(static_cast<int32_t>(rng() % 500));
  for (int i = 0; i < 20; ++i) other.push_back(static_cast<int32_t>(rng() % 500));
  std::vector<int32_t> pq = p;
  pq.insert(pq.end(), q.begin(), q.end());

  SeqId whole_seq = e->new_sequence();
  const auto whole = decode_rows(*e, whole_seq, pq);
  e->free_sequence(whole_seq);

  for (const int how : {0, 1, 2, 3}) {
    SCOPED_TRACE("P read " + std::string(how == 0 ? "in one batch" : how == 1 ? "in chunks of 7" : how == 2 ? "token by token" : "with another sequence"));
    cache.clear();
    SeqId seq = e->new_sequence();
    const size_t step = how == 0 ? p.size() : how == 1 ? 7 : how == 2 ? 1 : 9;
    SeqId mate = how == 3 ? e->new_sequence() : -1;
    size_t mate_at = 0;
    auto add_mate = [&](std::vector<BatchToken>& batch, int n) {
      for (int i = 0; i < n && mate >= 0; ++i) batch.push_back({mate, other[mate_at++ % other.size()], true});
    };
    for (size_t at = 0; at < p.size(); at += step) {
      std::vector<BatchToken> batch;
      add_mate(batch, 3);
      for (size_t i = at; i < std::min(p.size(), at + step); ++i) batch.push_back({seq, p[i], true});
      add_mate(batch, 2);
      e->decode(batch);
    }
    if (mate >= 0) e->free_sequence(mate);
    cache.retire(p, seq);
    PrefixMatch m = cache.match(pq);
    ASSERT_EQ(m.n_cached, static_cast<int32_t>(p.size()));
    const auto rows = decode_rows(*e, m.seq, q);
    e->free_sequence(m.seq);
    for (size_t i = 0; i < q.size(); ++i) {
      const auto& want = whole[p.size() + i];
      float max_diff = 0;
      for (size_t j = 0; j < want.size(); ++j) max_diff = std::max(max_diff, std::fabs(want[j] - rows[i][j]));
      ASSERT_EQ(std::memcmp(want.data(), rows[i].data(), want.size() * sizeof(float)), 0)
          << "row " << i << " of Q differs, by " << max_diff << " at most";
    }
  }
  cache.clear();
  EXPECT_EQ(e->kv_bytes_in_use(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    EveryWeightType, PrefixCacheExactness,
    ::testing::Values(std::pair{"llama", "f32"}, std::pair{"llama", "f16"}, std::pair{"llama", "bf16"},
                      std::pair{"llama", "q8_0"}, std::pair{"llama", "q4_0"}, std::pair{"llama", "q4_k_m"},
                      std::pair{"llama", "q5_k"}, std::pair{"llama", "q6_k"}, std::pair{"qwen2", "q8_0"},
                      std::pair{"qwen3", "q4_k_m"}, std::pair{"gemma2", "q8_0"}, std::pair{"gemma3", "q4_k_m"},
                      std::pair{"phi3", "q8_0"}, std::pair{"qwen3moe", "q8_0"}),
    [](const auto& info) { return std::string(info.param.first) + "_" + info.param.second; });

namespace {

std::unique_ptr<Engine> load_demo(int32_t n_ctx) {
  EngineOptions o;
  o.n_ctx = n_ctx;
  o.n_threads = 2;
  o.attention_scores = true;
  return Engine::load((entropix::testing::source_dir() / "models/demo/demo-q8_0.gguf").string(), o);
}

struct Answer {
  std::string text;
  std::vector<int32_t> ids;  // the tokens appended after the prompt
  GenerationStats stats;
};

Answer answer(Engine& e, std::span<const int32_t> prompt, PrefixCache* cache) {
  DecodeOptions o;
  o.sampler = SamplerKind::Greedy;
  o.max_tokens = 40;
  Answer a;
  a.stats = generate(e, prompt, o, [&](const TokenEvent& ev, std::string_view t) {
    a.text += t;
    if (!ev.end_of_text) a.ids.insert(a.ids.end(), ev.tokens.begin(), ev.tokens.end());
    return true;
  }, cache);
  return a;
}

std::vector<int32_t> cat(std::vector<int32_t> a, std::span<const int32_t> b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

// (b) A scripted mix, on the demo model: repeated prompts, prompts sharing a beginning,
// a conversation whose prompt grows by each answer, and strategies that fork. The cached
// engine has a small context, so the script also runs through evictions.
TEST(PrefixCacheDecoding, AnswersAreTheSameWithAndWithoutTheCache) {
  auto plain = load_demo(1024);
  auto cached = load_demo(256);
  PrefixCache cache(cached->kv_cache());
  const Tokenizer& tok = plain->tokenizer();
  const auto q1 = tok.encode("Q: Tom has 3 apples and buys 4 more. How many apples does Tom have?\nA:", true, false);
  const auto q2 = tok.encode("Q: A box holds 12 pens. Sam takes 5 pens out. How many pens are left?\nA:", true, false);
  auto q1_more = cat(q1, tok.encode(" Tom", false, false));

  auto same = [&](std::span<const int32_t> prompt, const char* what) {
    const Answer want = answer(*plain, prompt, nullptr);
    const Answer got = answer(*cached, prompt, &cache);
    EXPECT_EQ(got.text, want.text) << what;
    EXPECT_EQ(got.ids, want.ids) << what;
    EXPECT_EQ(got.stats.n_generated, want.stats.n_generated) << what;
    return got;
  };
  const Answer first = same(q1, "first read");
  EXPECT_EQ(first.stats.n_cached, 0);
  EXPECT_EQ(same(q1, "repeated").stats.n_cached, static_cast<int32_t>(q1.size()) - 1);
  EXPECT_GE(same(q1_more, "shared beginning").stats.n_cached, static_cast<int32_t>(q1.size()));
  same(q2, "another prompt");
  // A conversation: each turn's prompt is the last one, its answer and a new question.
  std::vector<int32_t> convo = q1;
  Answer last = first;
  for (const char* next : {"\nQ: He eats 2. How many now?\nA:", "\nQ: And if he buys 10 more?\nA:"}) {
    convo = cat(cat(convo, last.ids), tok.encode(next, false, false));
    last = same(convo, next);
    EXPECT_GE(last.stats.n_cached, static_cast<int32_t>(convo.size()) / 2) << next;
  }

  DecodeOptions base;
  base.max_tokens = 32;
  base.seed = 5;
  for (const char* spec : {"cot-decoding:3", "self-consistency:3", "entropix-branch", "entropix"}) {
    StrategyOptions o = parse_strategy(spec, base);
    o.decode.profile.thresholds.entropy_high = 100.0;  // LEHV at most steps: entropix-branch forks
    o.decode.profile.thresholds.varentropy_low = 0.01;
    o.decode.profile.thresholds.varentropy_high = 0.05;
    o.decode.profile.thresholds.entropy_low = 0.001;
    for (const auto* prompt : {&q2, &q1}) {
      const StrategyResult want = run_strategy(*plain, *prompt, o);
      const StrategyResult got = run_strategy(*cached, *prompt, o, {}, &cache);
      EXPECT_EQ(got.text, want.text) << spec;
      EXPECT_EQ(got.n_branch_points, want.n_branch_points) << spec;
      ASSERT_EQ(got.paths.size(), want.paths.size()) << spec;
      for (size_t i = 0; i < want.paths.size(); ++i) EXPECT_EQ(got.paths[i].text, want.paths[i].text) << spec;
      EXPECT_GT(got.n_cached, 0) << spec;
      if (o.decode.profile.branching) {
        EXPECT_GT(got.n_branch_points, 0) << spec;
      }
    }
  }
  const PrefixCacheStats s = cache.stats();
  EXPECT_GT(s.hits, 10);
  EXPECT_GT(s.evictions, 0);  // the small context forced some
  EXPECT_GT(s.hit_rate(), 0.5);
  cache.clear();
  EXPECT_EQ(cached->kv_bytes_in_use(), 0u);
}

// A sliding-window model (tiny, of Gemma 3's family: a window of 8 positions on layer 0):
// a long sequence read token by token keeps only the window in its windowed layer, and
// its forks, the prefix cache and a truncation give exactly the logits of a whole read.
TEST(PrefixCacheWindowed, ALongSequenceKeepsItsWindowAndTheLogitsOfAWholeRead) {
  const entropix::testing::TinyModelFile model("gemma3", "q8_0", 7);
  EngineOptions eo;
  eo.n_ctx = 1024;
  eo.n_threads = 2;
  eo.max_batch = 64;
  auto e = Engine::load(model.path.string(), eo);
  auto copy = [](std::span<const float> row) { return std::vector<float>(row.begin(), row.end()); };
  KvCache& kv = e->kv_cache();
  ASSERT_EQ(kv.window(), 8);
  // The window, a page of slack, and the page being written.
  const int32_t max_window_pages = (kv.window() + 2 * P) / P + 1;
  std::mt19937 rng(5);
  auto tokens = [&](int n) {
    std::vector<int32_t> t;
    for (int i = 0; i < n; ++i) t.push_back(static_cast<int32_t>(rng() % 500));
    return t;
  };
  const std::vector<int32_t> p = tokens(300), q = tokens(20), r = tokens(20);
  const std::vector<int32_t> pq = cat(p, q), pr = cat(p, r);
  auto whole_read = [&](std::span<const int32_t> t) {
    SeqId s = e->new_sequence();
    auto rows = decode_rows(*e, s, t);
    e->free_sequence(s);
    return rows;
  };
  const auto whole_pq = whole_read(pq), whole_pr = whole_read(pr);

  SeqId a = e->new_sequence();
  for (int32_t t : p) {
    BatchToken bt{a, t, false};
    e->decode({&bt, 1});
    ASSERT_LE(kv.used_window_pages(), max_window_pages) << kv.length(a);
  }
  EXPECT_EQ(kv.used_pages(), (300 + P - 1) / P);
  // Two forks decoded together, a token each per step.
  SeqId b = e->fork(a);
  for (size_t i = 0; i < q.size(); ++i) {
    const BatchToken batch[2] = {{a, q[i], true}, {b, r[i], true}};
    e->decode(batch);
    ASSERT_EQ(copy(e->logits(0)), whole_pq[p.size() + i]) << "fork a, step " << i;
    ASSERT_EQ(copy(e->logits(1)), whole_pr[p.size() + i]) << "fork b, step " << i;
    ASSERT_LE(kv.used_window_pages(), 2 * max_window_pages);
  }
  // Back within the window: fine; behind it, the window's positions are gone.
  e->truncate(a, static_cast<int32_t>(pq.size()) - 3);
  {
    const BatchToken bt[3] = {{a, pq[pq.size() - 3], false}, {a, pq[pq.size() - 2], false}, {a, pq.back(), true}};
    e->decode(bt);
    ASSERT_EQ(copy(e->logits(0)), whole_pq.back());
  }
  EXPECT_THROW(e->truncate(a, 100), Error);

  PrefixCache cache(kv);
  cache.retire(pq, a);
  cache.retire(pr, b);
  // Going on from a cached sequence takes all of it but the last token.
  PrefixMatch m = cache.match(pq);
  EXPECT_EQ(m.n_cached, static_cast<int32_t>(pq.size()) - 1);
  EXPECT_EQ(decode_rows(*e, m.seq, std::span(pq).last(1))[0], whole_pq.back());
  e->free_sequence(m.seq);
  // Leaving it early: the windowed layer no longer holds the positions there.
  const std::vector<int32_t> early = cat(std::vector<int32_t>(p.begin(), p.begin() + 150), q);
  EXPECT_EQ(cache.cached_length(early), 0);
  m = cache.match(early);
  EXPECT_EQ(m.n_cached, 0);
  const auto rows = decode_rows(*e, m.seq, early);
  EXPECT_EQ(rows.back(), whole_read(early).back());
  e->free_sequence(m.seq);
  cache.clear();
  EXPECT_EQ(e->kv_bytes_in_use(), 0u);
  EXPECT_EQ(kv.used_window_pages(), 0);
}
