// Weight rows repacked at load into the layout a backend's batched kernel wants.
//
// In GGUF's layout each row is a run of blocks, and a dot kernel must reduce every
// block's integer products to a float and scale it on its own (a conversion and a
// multiply-add per block and activation row). Interleaving a group of rows puts 4
// weights of each of them in one vector: one broadcast of 4 activations against it
// gives all the rows' partial sums side by side, they add up as integers through the
// block, and one conversion and multiply-add per block serve every row of the group.
// Each weight vector is then used for several activation rows (prompt tokens, forks,
// concurrent requests) while it sits in a register.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/ggml_type.h"
#include "kernels/blocks.h"
#include "kernels/dot.h"

namespace entropix {

struct WeightMatrix;

// ---- the layouts ------------------------------------------------------------------------

inline constexpr int kPackedRows = 8;  // rows per group of BlockQ8_0x8

// AVX2: block b of a group of 8 Q8_0 rows: their 8 fp16 scales, then qs[c * 32 + r * 4 + e]
// = element 4c + e of row r's block b (c < 8, e < 4).
struct BlockQ8_0x8 {
  uint16_t d[kPackedRows];
  int8_t qs[kPackedRows * kQK8_0];
};
static_assert(sizeof(BlockQ8_0x8) == kPackedRows * sizeof(BlockQ8_0));

// AVX-512 VNNI (whose Q8_0 kernel takes two such groups, 32 rows, at a time): block b of
// a group of 16 Q8_0 rows, the weights stored plus 128 as
// unsigned bytes (VNNI multiplies unsigned by signed bytes; the activation row carries
// -128 times each block's sum to take the offset back out, see q8_0_act_bias_offset).
// qs[c * 64 + r * 4 + e] = 128 + element 4c + e of row r's block b; d[r] its fp16 scale.
// As many bytes as the rows in the file: generation reads every one of them.
struct BlockQ8_0x16 {
  uint8_t qs[16 * kQK8_0];
  uint16_t d[16];
};
static_assert(sizeof(BlockQ8_0x16) == 16 * sizeof(BlockQ8_0));

// AVX-512 VNNI: block b of a group of 16 Q4_0 rows. Byte r * 4 + e of qs[k] holds element
// 4k + e of row r's block in its low nibble and element 16 + 4k + e in its high nibble
// (the quants 0..15; the -8 comes back from the activations' block sums); d[r] its fp16
// scale. As many bytes as the rows in the file.
struct BlockQ4_0x16 {
  uint8_t qs[4][64];
  uint16_t d[16];
};
static_assert(sizeof(BlockQ4_0x16) == 16 * sizeof(BlockQ4_0));

// AVX-512 VNNI: super-block b of a group of 16 Q4_K rows. The 4-bit quants of sub-block j
// (32 elements) are 4 vectors: byte r * 4 + e of vector k holds element 32j + 4k + e of row
// r in its low nibble and element 32j + 16 + 4k + e in its high nibble. Scales and mins
// are unpacked to a byte per sub-block and row (scales[j][r], mins[j][r]); d and dmin are
// the rows' fp16 super-scales. 2.8% more bytes than the rows in the file, and a whole
// number of cache lines.
struct BlockQ4_Kx16 {
  uint8_t qs[8][4][64];
  uint8_t scales[8][16];
  uint8_t mins[8][16];
  uint16_t d[16];
  uint16_t dmin[16];
};
static_assert(sizeof(BlockQ4_Kx16) % 64 == 0);

// AVX-512 VNNI: super-block b of a group of 16 Q5_K rows: as BlockQ4_Kx16, with each
// element's fifth bit apart: bit k of byte r * 4 + e of qh[j] is that of element
// 32j + 4k + e of row r, bit 4 + k that of element 32j + 16 + 4k + e (the quants 0..31).
// 2.3% more bytes than the rows in the file, and a whole number of cache lines.
struct BlockQ5_Kx16 {
  uint8_t qs[8][4][64];
  uint8_t qh[8][64];
  uint8_t scales[8][16];
  uint8_t mins[8][16];
  uint16_t d[16];
  uint16_t dmin[16];
};
static_assert(sizeof(BlockQ5_Kx16) % 64 == 0);

// AVX-512 VNNI: super-block b of a group of 16 Q6_K rows: 16 groups of 16 elements, the
// 6-bit quants split as in the file into 4 low bits and 2 high bits. Chunk c is elements
// 4c..4c+3 (c < 64). For g < 8 and k < 4, byte r * 4 + e of ql[g][k] holds element e of
// chunk 4g + k of row r in its low nibble and of chunk 32 + 4g + k in its high nibble
// (groups g and g + 8); bits 2k..2k+1 of that byte of qh[g][0] are the high bits of the
// former, of qh[g][1] those of the latter. scales[g][r] is group g's scale of row r, d[r]
// the row's fp16 super-scale: as many bytes as the rows in the file.
struct BlockQ6_Kx16 {
  uint8_t ql[8][4][64];
  uint8_t qh[8][2][64];
  int8_t scales[16][16];
  uint16_t d[16];
};
static_assert(sizeof(BlockQ6_Kx16) == 16 * sizeof(BlockQ6_K));

// ---- packing -----------------------------------------------------------------------------

// How a backend's batched kernel wants one weight type laid out.
struct PackedLayout {
  const char* name;
  GgmlType type;       // the weight type it packs
  int rows;            // rows per group
  int max_tokens;      // most activation rows one kernel call takes
  int64_t block_elems; // elements per packed block
  size_t block_bytes;  // bytes of one packed block (all rows of the group)
  // Writes groups [g0, g1) of w's packed copy to dst (group g at dst + g * group_bytes).
  void (*pack)(const WeightMatrix& w, uint8_t* dst, int64_t g0, int64_t g1);
  // out[j * rows + r] = row r of the group times activation row j, j < n_x <= max_tokens;
  // each row's result is the same whatever n_x is.
  PackedDotFn dot;
};

// The backend's layout for a weight type; nullptr where it has none.
const PackedLayout* packed_layout(const DotBackend& backend, GgmlType type);

// Whether `w` can be packed in `layout`: its type, at least one whole group of rows.
bool packable(const WeightMatrix& w, const PackedLayout& layout);
// Bytes of one group, and of the packed copy of w's whole groups (rows beyond the last
// whole group stay in w.data only); 0 when w is not packable.
size_t packed_group_bytes(const WeightMatrix& w, const PackedLayout& layout);
size_t packed_bytes(const WeightMatrix& w, const PackedLayout& layout);

void pack_q8_0_rows_x8(const WeightMatrix& w, uint8_t* dst, int64_t g0, int64_t g1);
void pack_q8_0_rows_x16(const WeightMatrix& w, uint8_t* dst, int64_t g0, int64_t g1);
void pack_q4_0_rows_x16(const WeightMatrix& w, uint8_t* dst, int64_t g0, int64_t g1);
void pack_q4_k_rows_x16(const WeightMatrix& w, uint8_t* dst, int64_t g0, int64_t g1);
void pack_q5_k_rows_x16(const WeightMatrix& w, uint8_t* dst, int64_t g0, int64_t g1);
void pack_q6_k_rows_x16(const WeightMatrix& w, uint8_t* dst, int64_t g0, int64_t g1);

}  // namespace entropix
