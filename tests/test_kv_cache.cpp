#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <span>
#include <vector>

#include "core/error.h"
#include "kernels/blocks.h"
#include "kernels/fp16.h"
#include "kernels/quant.h"
#include "model/kv_cache.h"

using namespace entropix;

namespace {

// Writes a recognisable value for (seq tag, position) into every layer's K and V.
void write_position(KvCache& kv, int32_t slot, float tag) {
  for (int32_t l = 0; l < 2; ++l) {
    std::vector<float> key(static_cast<size_t>(kv.kv_dim())), value(key.size());
    for (int32_t i = 0; i < kv.kv_dim(); ++i) {
      key[static_cast<size_t>(i)] = tag + l * 1000 + i;
      value[static_cast<size_t>(i)] = -(tag + l * 1000 + i);
    }
    kv.write_key(l, slot, key.data());
    kv.write_value(l, slot, value.data());
  }
}

float key_at(const KvCache& kv, int32_t seq, int32_t pos, int32_t layer = 1) {
  const int32_t slot = kv.slot(seq, pos);
  // Every element of the key and its value agree (write_position), wherever a copy put them.
  for (int32_t i = 0; i < kv.kv_dim(); ++i) {
    EXPECT_EQ(kv.key(layer, slot, i) - float(i), kv.key(layer, slot, 0));
    EXPECT_EQ(kv.value(layer, slot, i), -kv.key(layer, slot, i));
  }
  return kv.key(layer, slot, 0) - layer * 1000;
}

}  // namespace

TEST(KvCache, ForkSharesThePrefixAndCopiesOnlyThePartialPage) {
  for (int32_t heads : {1, 2, 4}) {
    SCOPED_TRACE("heads " + std::to_string(heads));
    KvCache kv(2, 4, 256, KvType::F16, {}, heads);
    int32_t a = kv.new_sequence();
    for (int32_t p = 0; p < 37; ++p) write_position(kv, kv.append(a), float(p));
    const int32_t used_before = kv.used_pages();
    EXPECT_EQ(used_before, 3);  // 37 positions in pages of 16

    int32_t b = kv.fork(a);
    EXPECT_EQ(kv.length(b), 37);
    EXPECT_EQ(kv.used_pages(), used_before);  // nothing copied by the fork itself
    EXPECT_EQ(kv.shared_pages(), 3);
    for (int32_t p = 0; p < 37; ++p) EXPECT_EQ(kv.slot(a, p), kv.slot(b, p));

    // b writes position 37 into the shared third page: b gets a private copy of it.
    write_position(kv, kv.append(b), 500.0f);
    EXPECT_EQ(kv.used_pages(), used_before + 1);
    EXPECT_EQ(kv.shared_pages(), 2);
    for (int32_t p = 0; p < 37; ++p) EXPECT_EQ(key_at(kv, b, p), float(p)) << p;
    EXPECT_EQ(key_at(kv, b, 37), 500.0f);

    // a continues independently, its view unchanged.
    write_position(kv, kv.append(a), 900.0f);
    EXPECT_EQ(key_at(kv, a, 37), 900.0f);
    EXPECT_EQ(key_at(kv, b, 37), 500.0f);
    for (int32_t p = 0; p < 32; ++p) EXPECT_EQ(kv.slot(a, p), kv.slot(b, p));
  }
}

TEST(KvCache, FreeingABranchReleasesOnlyItsOwnPages) {
  KvCache kv(2, 4, 256);
  int32_t a = kv.new_sequence();
  for (int32_t p = 0; p < 32; ++p) write_position(kv, kv.append(a), float(p));
  int32_t b = kv.fork(a);
  for (int32_t p = 32; p < 64; ++p) write_position(kv, kv.append(b), float(p));
  EXPECT_EQ(kv.used_pages(), 4);
  kv.free_sequence(b);
  EXPECT_EQ(kv.used_pages(), 2);
  EXPECT_FALSE(kv.is_live(b));
  for (int32_t p = 0; p < 32; ++p) EXPECT_EQ(key_at(kv, a, p), float(p));
  kv.free_sequence(a);
  EXPECT_EQ(kv.used_pages(), 0);
}

TEST(KvCache, TruncateThenRewriteDoesNotDisturbASharingFork) {
  KvCache kv(2, 4, 256);
  int32_t a = kv.new_sequence();
  for (int32_t p = 0; p < 20; ++p) write_position(kv, kv.append(a), float(p));
  int32_t b = kv.fork(a);
  kv.truncate(a, 18);
  write_position(kv, kv.append(a), 777.0f);
  EXPECT_EQ(key_at(kv, a, 18), 777.0f);
  EXPECT_EQ(key_at(kv, b, 18), 18.0f);
  EXPECT_EQ(key_at(kv, a, 17), 17.0f);
  EXPECT_THROW(kv.truncate(a, 40), Error);
}

TEST(KvCache, FullCacheAndUnknownSequencesAreErrors) {
  KvCache kv(1, 2, 16);
  int32_t a = kv.new_sequence();
  int32_t appended = 0;
  try {
    for (;;) {
      kv.append(a);
      ++appended;
    }
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("full"), std::string::npos);
  }
  EXPECT_GE(appended, 16);
  EXPECT_THROW(kv.length(99), Error);
  EXPECT_THROW(kv.fork(-1), Error);
}

// Pages held outside the sequences (as the prefix cache holds them): a sequence built
// from them reads their keys and copies the partly filled last one before writing.
TEST(KvCache, ASequenceFromHeldPagesSharesThem) {
  KvCache kv(2, 4, 256);
  int32_t a = kv.new_sequence();
  for (int32_t p = 0; p < 20; ++p) write_position(kv, kv.append(a), float(p));
  const std::vector<int32_t> held(kv.pages(a).begin(), kv.pages(a).end());
  ASSERT_EQ(held.size(), 2u);
  for (int32_t page : held) kv.retain_page(page);
  kv.free_sequence(a);
  EXPECT_EQ(kv.used_pages(), 2);

  int32_t b = kv.sequence_from_pages(held, 20);
  EXPECT_EQ(kv.length(b), 20);
  EXPECT_EQ(kv.page_refs(held[1]), 2);
  write_position(kv, kv.append(b), 500.0f);  // into the shared second page: b copies it
  EXPECT_EQ(kv.used_pages(), 3);
  for (int32_t p = 0; p < 20; ++p) EXPECT_EQ(key_at(kv, b, p), float(p));
  EXPECT_EQ(key_at(kv, b, 20), 500.0f);
  for (int32_t page : held) kv.release_page(page);
  EXPECT_EQ(kv.used_pages(), 2);  // b's first page and its copy of the second
  EXPECT_THROW(kv.release_page(held[1]), Error);  // no longer in use
  EXPECT_THROW(kv.sequence_from_pages(held, 40), Error);  // 40 positions need three pages
}

// A reclaimer's pages count as free, and the cache asks for them before it is full.
TEST(KvCache, AReclaimerGivesBackPagesOnDemand) {
  struct Holder : PageReclaimer {
    KvCache& kv;
    std::vector<int32_t> pages;
    explicit Holder(KvCache& k) : kv(k) {}
    int32_t reclaimable_pages() const override { return static_cast<int32_t>(pages.size()); }
    int32_t reclaim(int32_t n) override {
      int32_t freed = 0;
      for (; freed < n && !pages.empty(); ++freed) {
        kv.release_page(pages.back());
        pages.pop_back();
      }
      return freed;
    }
  };
  KvCache kv(1, 2, 16);
  Holder holder(kv);
  kv.set_reclaimer(&holder);
  int32_t a = kv.new_sequence();
  for (int32_t p = 0; p < kv.n_pages() * KvCache::kPageSize; ++p) kv.append(a);
  holder.pages.assign(kv.pages(a).begin(), kv.pages(a).end());
  for (int32_t page : holder.pages) kv.retain_page(page);
  kv.free_sequence(a);
  EXPECT_EQ(kv.free_pages(), 0);
  EXPECT_EQ(kv.free_positions(), kv.n_pages() * KvCache::kPageSize);
  int32_t b = kv.new_sequence();
  for (int32_t p = 0; p < kv.n_pages() * KvCache::kPageSize; ++p) ASSERT_NO_THROW(kv.append(b)) << p;
  EXPECT_TRUE(holder.pages.empty());
  EXPECT_THROW(kv.append(b), Error);
  Holder other(kv);
  EXPECT_THROW(kv.set_reclaimer(&other), Error);
  kv.set_reclaimer(nullptr);
}

// Every storage type: F32 keeps every float, F16 keeps it rounded to fp16 (as llama.cpp's
// default cache) at half the bytes, Q8_0 keeps each row's Q8_0 blocks (as quantize_row
// makes them) at 34 bytes per 32 elements; a fork's copy of a shared last page keeps
// each form.
TEST(KvCache, StoresF32ExactlyF16RoundedAndQ8_0Quantized) {
  EXPECT_EQ(KvCache::bytes_for(3, 64, 100, KvType::F16) * 2, KvCache::bytes_for(3, 64, 100, KvType::F32));
  EXPECT_EQ(KvCache::bytes_for(3, 64, 100, KvType::Q8_0) * 32, KvCache::bytes_for(3, 64, 100, KvType::F16) * 17);
  EXPECT_EQ(parse_kv_type("f16"), KvType::F16);
  EXPECT_EQ(parse_kv_type("f32"), KvType::F32);
  EXPECT_EQ(parse_kv_type("q8_0"), KvType::Q8_0);
  EXPECT_THROW(parse_kv_type("q4_0"), Error);
  EXPECT_THROW(KvCache(2, 40, 64, KvType::Q8_0), Error);  // rows not in whole blocks
  EXPECT_THROW(KvCache(2, 64, 64, KvType::Q8_0, {}, 4), Error);  // heads not in whole blocks
  EXPECT_THROW(KvCache(2, 64, 64, KvType::F16, {}, 3), Error);   // a row that is not 3 heads
  EXPECT_THROW(KvCache(2, 64, 64, KvType::F16, {}, 0), Error);
  constexpr int32_t kDim = 64;
  for (int32_t heads : {1, 2})
  for (KvType type : {KvType::F32, KvType::F16, KvType::Q8_0}) {
    SCOPED_TRACE("heads " + std::to_string(heads));
    KvCache kv(2, kDim, 64, type, {}, heads);
    EXPECT_EQ(kv.type(), type);
    EXPECT_EQ(kv.page_bytes(), size_t(KvCache::kPageSize) * 2 * 2 * kv_row_bytes(type, kDim));
    const int32_t a = kv.new_sequence();
    std::vector<std::vector<float>> keys, values;
    for (int32_t p = 0; p < 5; ++p) {
      const int32_t slot = kv.append(a);
      std::vector<float> k(kDim), v(kDim);
      for (int32_t d = 0; d < kDim; ++d) {
        k[size_t(d)] = 0.1f * float(p) + 1.7e-3f * float(d) - 0.31f;
        v[size_t(d)] = -3.3f * float(d % 11) + 0.013f * float(p);
      }
      kv.write_key(1, slot, k.data());
      kv.write_value(1, slot, v.data());
      keys.push_back(k);
      values.push_back(v);
    }
    // What each type keeps of a row.
    const auto kept = [type](std::vector<float> row) {
      if (type == KvType::F16) {
        for (float& x : row) x = fp16_to_f32(f32_to_fp16(x));
      } else if (type == KvType::Q8_0) {
        std::vector<uint8_t> q(kv_row_bytes(KvType::Q8_0, kDim));
        quantize_row(GgmlType::Q8_0, row.data(), q.data(), kDim);
        dequantize_row(GgmlType::Q8_0, q.data(), row.data(), kDim);
      }
      return row;
    };
    const int32_t b = kv.fork(a);
    kv.append(b);  // copies the shared, partly filled page
    for (int32_t seq : {a, b}) {
      for (int32_t p = 0; p < 5; ++p) {
        const std::vector<float> want_k = kept(keys[size_t(p)]), want_v = kept(values[size_t(p)]);
        for (int32_t d = 0; d < kDim; ++d) {
          EXPECT_EQ(kv.key(1, kv.slot(seq, p), d), want_k[size_t(d)]) << kv_type_name(type) << " seq " << seq << " pos " << p;
          EXPECT_EQ(kv.value(1, kv.slot(seq, p), d), want_v[size_t(d)]) << kv_type_name(type) << " seq " << seq << " pos " << p;
          if (type == KvType::Q8_0) {  // within half a step of 1/127 of the block's largest element
            EXPECT_NEAR(kv.value(1, kv.slot(seq, p), d), values[size_t(p)][size_t(d)], 33.0 / 127 / 2 + 1e-3);
          }
        }
      }
    }
    // The layout the attention kernels read: a head's keys transposed in its part of the
    // page, [head_dim][kPageSize] (Q8_0: int8 elements, then fp16 scales per 32), and its
    // value rows head_row_bytes() apart.
    ASSERT_EQ(kv.heads(), heads);
    const int32_t hd = kDim / heads;
    ASSERT_EQ(kv.head_row_bytes() * size_t(heads), kv.value_row_bytes());
    const int32_t page = kv.pages(b)[0];
    for (int32_t h = 0; h < heads; ++h) {
      const auto* kt = static_cast<const uint8_t*>(kv.key_page(1, page, h));
      const auto* vr = static_cast<const uint8_t*>(kv.value_page(1, page, h));
      for (int32_t i = 0; i < 5; ++i) {
        for (int32_t e = 0; e < hd; ++e) {
          const int32_t d = h * hd + e;
          const size_t k_at = size_t(e) * KvCache::kPageSize + size_t(i);
          const uint8_t* row = vr + size_t(i) * kv.head_row_bytes();
          float k = 0.0f, v = 0.0f;
          if (type == KvType::F32) {
            k = reinterpret_cast<const float*>(kt)[k_at];
            v = reinterpret_cast<const float*>(row)[e];
          } else if (type == KvType::F16) {
            k = fp16_to_f32(reinterpret_cast<const uint16_t*>(kt)[k_at]);
            v = fp16_to_f32(reinterpret_cast<const uint16_t*>(row)[e]);
          } else {
            const uint16_t scale = kv.key_scales(1, page, h)[size_t(e / kQK8_0) * KvCache::kPageSize + size_t(i)];
            k = float(static_cast<int8_t>(kt[k_at])) * fp16_to_f32(scale);
            std::vector<float> row_values(static_cast<size_t>(hd));
            dequantize_row(GgmlType::Q8_0, row, row_values.data(), hd);
            v = row_values[size_t(e)];
          }
          EXPECT_EQ(k, kv.key(1, kv.slot(b, i), d)) << kv_type_name(type) << " head " << h << " pos " << i << " element " << e;
          EXPECT_EQ(v, kv.value(1, kv.slot(b, i), d)) << kv_type_name(type) << " head " << h << " pos " << i << " element " << e;
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// Sliding windows.

namespace {

constexpr int32_t kWindow = 40;

// Layers 0 and 2 windowed, layer 1 full; two heads.
KvCache windowed_cache(int32_t capacity) {
  return KvCache(3, 4, capacity, KvType::F32, SlidingWindow{kWindow, {1, 0, 1}}, 2);
}

void write_tagged(KvCache& kv, int32_t slot, float tag) {
  for (int32_t l = 0; l < 3; ++l) {
    std::vector<float> key(static_cast<size_t>(kv.kv_dim()));
    for (int32_t i = 0; i < kv.kv_dim(); ++i) key[static_cast<size_t>(i)] = tag + float(l) * 0.25f + float(i) * 1000.0f;
    kv.write_key(l, slot, key.data());
    for (float& x : key) x = -x;
    kv.write_value(l, slot, key.data());
  }
}

// Whether the sequence reads `tags` back: every position in the full layer, and in the
// windowed ones every position the next one reads (the last kWindow - 1).
::testing::AssertionResult reads_back(const KvCache& kv, int32_t seq, const std::vector<float>& tags) {
  const int32_t n = kv.length(seq);
  if (n != static_cast<int32_t>(tags.size())) return ::testing::AssertionFailure() << "length " << n;
  for (int32_t p = 0; p < n; ++p) {
    const int32_t page = kv.pages(seq)[static_cast<size_t>(p / KvCache::kPageSize)];
    for (int32_t l = 0; l < 3; ++l) {
      if (kv.windowed(l) && p < n - kWindow + 1) continue;
      if (!kv.stored(l, page)) return ::testing::AssertionFailure() << "layer " << l << " lost position " << p;
      const float want = tags[static_cast<size_t>(p)] + float(l) * 0.25f;
      for (int32_t i = 0; i < kv.kv_dim(); ++i) {
        const float k = kv.key(l, kv.slot(seq, p), i), v = kv.value(l, kv.slot(seq, p), i);
        if (k != want + float(i) * 1000.0f || v != -k) {
          return ::testing::AssertionFailure() << "layer " << l << " position " << p << " reads " << k;
        }
      }
    }
  }
  return ::testing::AssertionSuccess();
}

// Appends as the engine does: the window is trimmed after each batch.
void grow(KvCache& kv, int32_t seq, std::vector<float>& tags, int32_t n, float base) {
  for (int32_t i = 0; i < n; ++i) {
    tags.push_back(base + float(i));
    write_tagged(kv, kv.append(seq), tags.back());
  }
  kv.trim_window(seq);
}

// The companions a trimmed sequence keeps: its window, a page of slack and a partial page.
constexpr int32_t kMaxWindowPages = (kWindow + 2 * KvCache::kPageSize) / KvCache::kPageSize + 1;

}  // namespace

// A long sequence: the full layer keeps every position, the windowed ones the window.
TEST(KvCache, WindowedLayersKeepOnlyTheWindow) {
  KvCache kv = windowed_cache(4096);
  EXPECT_EQ(kv.window(), kWindow);
  EXPECT_TRUE(kv.windowed(0));
  EXPECT_FALSE(kv.windowed(1));
  const int32_t a = kv.new_sequence();
  std::vector<float> tags;
  for (int step = 0; step < 1000; ++step) {
    grow(kv, a, tags, 1, float(step));
    ASSERT_LE(kv.used_window_pages(), kMaxWindowPages) << step;
  }
  EXPECT_TRUE(reads_back(kv, a, tags));
  EXPECT_EQ(kv.used_pages(), 63);  // ceil(1000 / 16)
  const size_t page_layer = size_t(KvCache::kPageSize) * kv.value_row_bytes() * 2;
  EXPECT_EQ(kv.bytes_in_use(), page_layer * (63 * 1 + size_t(kv.used_window_pages()) * 2));
  EXPECT_FALSE(kv.stored(0, kv.pages(a)[0]));
  EXPECT_TRUE(kv.stored(1, kv.pages(a)[0]));
  EXPECT_FALSE(kv.has_window(kv.pages(a)[0]));
  // A batch: the window grows by what it reads, and shrinks back after it.
  grow(kv, a, tags, 200, 5000.0f);
  EXPECT_TRUE(reads_back(kv, a, tags));
  EXPECT_LE(kv.used_window_pages(), kMaxWindowPages);

  // Truncating within the window is fine; behind it, the windowed layers lack what the
  // shorter sequence would read: an error, and the sequence is left as it was.
  kv.truncate(a, 1190);
  tags.resize(1190);
  EXPECT_TRUE(reads_back(kv, a, tags));
  EXPECT_THROW(kv.truncate(a, 500), Error);
  EXPECT_TRUE(reads_back(kv, a, tags));
  kv.truncate(a, 0);
  tags.clear();
  grow(kv, a, tags, 30, 9000.0f);
  EXPECT_TRUE(reads_back(kv, a, tags));
  kv.free_sequence(a);
  EXPECT_EQ(kv.used_pages(), 0);
  EXPECT_EQ(kv.used_window_pages(), 0);
  // One sequence of the whole context, read in batches of 256, fits what bytes_for says.
  const SlidingWindow w{kWindow, {1, 0, 1}};
  EXPECT_EQ(KvCache::bytes_for(3, 4, 4096, KvType::F32, w, 256),
            KvCache::bytes_for(1, 4, 4096, KvType::F32) + KvCache::bytes_for(2, 4, kWindow + 256 + 32, KvType::F32));
}

// Forks, holders outside the sequences and sequences built from held pages, at random:
// every live sequence reads what it wrote, and every page and companion comes back.
TEST(KvCache, WindowedForksAndHeldPagesKeepWhatTheyRead) {
  std::mt19937 rng(11);
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  KvCache kv = windowed_cache(8192);
  struct Live {
    int32_t seq;
    std::vector<float> tags;
  };
  struct Held {
    std::vector<int32_t> pages;
    std::vector<float> tags;
  };
  std::vector<Live> live;
  std::vector<Held> held;
  float next_tag = 0;
  int32_t started_from_held = 0, refused = 0;
  for (int step = 0; step < 4000; ++step) {
    const int op = uniform(0, 99);
    if (op < 10 && live.size() < 6) {
      live.push_back({kv.new_sequence(), {}});
    } else if (op < 50 && !live.empty()) {
      Live& l = live[size_t(uniform(0, int(live.size()) - 1))];
      const int32_t n = uniform(0, 3) == 0 ? uniform(20, 90) : uniform(1, 5);
      if (l.tags.size() + size_t(n) > 1500) continue;
      grow(kv, l.seq, l.tags, n, next_tag);
      next_tag += 1000.0f;
    } else if (op < 60 && !live.empty() && live.size() < 6) {
      const Live& l = live[size_t(uniform(0, int(live.size()) - 1))];
      live.push_back({kv.fork(l.seq), l.tags});
    } else if (op < 70 && !live.empty()) {
      const size_t i = size_t(uniform(0, int(live.size()) - 1));
      kv.free_sequence(live[i].seq);
      live.erase(live.begin() + long(i));
    } else if (op < 78 && !live.empty() && held.size() < 4) {  // hold, as the prefix cache does
      const Live& l = live[size_t(uniform(0, int(live.size()) - 1))];
      Held h{{kv.pages(l.seq).begin(), kv.pages(l.seq).end()}, l.tags};
      for (int32_t page : h.pages) kv.retain_page(page);
      held.push_back(std::move(h));
    } else if (op < 86 && !held.empty()) {
      const size_t i = size_t(uniform(0, int(held.size()) - 1));
      for (int32_t page : held[i].pages) kv.release_page(page);
      held.erase(held.begin() + long(i));
    } else if (op < 96 && !held.empty() && live.size() < 6) {  // start from held pages
      const Held& h = held[size_t(uniform(0, int(held.size()) - 1))];
      if (h.tags.empty()) continue;
      const int32_t want = uniform(1, static_cast<int32_t>(h.tags.size()));
      const std::span<const int32_t> pages(h.pages.data(), size_t((want + KvCache::kPageSize - 1) / KvCache::kPageSize));
      const int32_t n = kv.usable_length(pages, want);
      ASSERT_LE(n, want);
      // Held pages keep the companions they had: the last window of what was held at least.
      if (want == static_cast<int32_t>(h.tags.size())) {
        ASSERT_EQ(n, want) << step;
      }
      if (n < want) {
        ++refused;
        EXPECT_THROW(kv.sequence_from_pages(pages, want), Error);
      }
      if (n == 0) continue;
      const int32_t seq = kv.sequence_from_pages(pages.first(size_t((n + KvCache::kPageSize - 1) / KvCache::kPageSize)), n);
      live.push_back({seq, {h.tags.begin(), h.tags.begin() + n}});
      ++started_from_held;
    }
    for (const Live& l : live) ASSERT_TRUE(reads_back(kv, l.seq, l.tags)) << "step " << step;
    ASSERT_LE(kv.used_window_pages(), kv.used_pages());
    ASSERT_LE(kv.used_window_pages(), int32_t(live.size() + held.size()) * kMaxWindowPages + 8) << step;
  }
  std::printf("%d sequences started from held pages, %d of them shorter than asked\n", started_from_held, refused);
  EXPECT_GT(started_from_held, 50);
  EXPECT_GT(refused, 20);
  for (const Live& l : live) kv.free_sequence(l.seq);
  for (const Held& h : held) {
    for (int32_t page : h.pages) kv.release_page(page);
  }
  EXPECT_EQ(kv.used_pages(), 0);
  EXPECT_EQ(kv.used_window_pages(), 0);
}
