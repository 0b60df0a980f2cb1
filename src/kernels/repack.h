// Q8_0 weight rows repacked in groups of 8 for the batched AVX2 kernel.
//
// In GGUF's layout each row is a run of blocks, and a dot kernel must reduce every
// block's integer products to a float and scale it on its own (a conversion and a
// multiply-add per block and activation row). Interleaving 8 rows puts 4 weights of
// each of them in one 32-byte vector: one broadcast of 4 activations against it
// gives the 8 rows' partial sums side by side, they are added as integers through
// the block, and one conversion and multiply-add per block serve all 8 rows. With
// several activation rows (forks, concurrent requests) that is about a third less
// work per weight and activation row.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/blocks.h"
#include "kernels/matmul.h"

namespace entropix {

inline constexpr int kPackedRows = 8;

// Block b of a group of 8 rows: their 8 fp16 scales, then qs[c * 32 + r * 4 + e] =
// element 4c + e of row r's block b (c < 8, e < 4).
struct BlockQ8_0x8 {
  uint16_t d[kPackedRows];
  int8_t qs[kPackedRows * kQK8_0];
};
static_assert(sizeof(BlockQ8_0x8) == kPackedRows * sizeof(BlockQ8_0));

// Whether `w` can be packed: Q8_0 with at least one whole group of rows.
bool packable(const WeightMatrix& w);
// Bytes of the packed copy of w's whole groups (rows beyond the last whole group
// stay in w.data only).
size_t packed_bytes(const WeightMatrix& w);
// Writes groups [g0, g1) of the packed copy of w to dst, which holds packed_bytes(w):
// group g (rows 8g..8g+7) is its blocks in order, at dst + g * (n_in / 32) *
// sizeof(BlockQ8_0x8).
void pack_q8_0_rows(const WeightMatrix& w, uint8_t* dst, int64_t g0, int64_t g1);

}  // namespace entropix
