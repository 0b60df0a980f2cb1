#include <gtest/gtest.h>

#include <vector>

#include "core/error.h"
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
  KvCache kv(2, 4, 256);
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
  constexpr int32_t kDim = 64;
  for (KvType type : {KvType::F32, KvType::F16, KvType::Q8_0}) {
    KvCache kv(2, kDim, 64, type);
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
  }
}
