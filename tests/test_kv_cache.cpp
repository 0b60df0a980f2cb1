#include <gtest/gtest.h>

#include "core/error.h"
#include "model/kv_cache.h"

using namespace entropix;

namespace {

// Writes a recognisable value for (seq tag, position) into every layer's K and V.
void write_position(KvCache& kv, int32_t slot, float tag) {
  for (int32_t l = 0; l < 2; ++l) {
    for (int32_t i = 0; i < kv.kv_dim(); ++i) {
      kv.keys(l, slot)[i] = tag + l * 1000 + i;
      kv.values(l, slot)[i] = -(tag + l * 1000 + i);
    }
  }
}

float key_at(const KvCache& kv, int32_t seq, int32_t pos, int32_t layer = 1) {
  return kv.keys(layer)[size_t(kv.slot(seq, pos)) * kv.kv_dim()] - layer * 1000;
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
