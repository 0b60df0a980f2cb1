#include "kernels/repack.h"

#include <cstring>
#include <type_traits>

#include "kernels/matmul.h"

namespace entropix {

const PackedLayout* packed_layout(const DotBackend& backend, GgmlType type) {
  switch (type) {
    case GgmlType::Q8_0: return backend.packed_q8_0;
    case GgmlType::Q4_0: return backend.packed_q4_0;
    case GgmlType::Q4_K: return backend.packed_q4_k;
    case GgmlType::Q5_K: return backend.packed_q5_k;
    case GgmlType::Q6_K: return backend.packed_q6_k;
    default: return nullptr;
  }
}

bool packable(const WeightMatrix& w, const PackedLayout& layout) {
  return w.type == layout.type && w.n_out >= layout.rows && w.n_in > 0 && w.n_in % layout.block_elems == 0;
}

size_t packed_group_bytes(const WeightMatrix& w, const PackedLayout& layout) {
  return static_cast<size_t>(w.n_in / layout.block_elems) * layout.block_bytes;
}

size_t packed_bytes(const WeightMatrix& w, const PackedLayout& layout) {
  if (!packable(w, layout)) return 0;
  return static_cast<size_t>(w.n_out / layout.rows) * packed_group_bytes(w, layout);
}

namespace {

template <typename Block>
const Block& row_block(const WeightMatrix& w, int64_t row, int64_t b) {
  return reinterpret_cast<const Block*>(w.data + row * w.row_bytes)[b];
}

// The 256 quants of a Q4_K block in element order, 0..15: see BlockQ4_K.
void q4_k_quants(const BlockQ4_K& b, uint8_t* q) {
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      q[64 * c + l] = b.qs[32 * c + l] & 0xF;
      q[64 * c + 32 + l] = b.qs[32 * c + l] >> 4;
    }
  }
}

// The 256 quants of a Q5_K block in element order, 0..31: see BlockQ5_K (the fifth bit of
// element 32s + l is bit s of qh[l]).
void q5_k_quants(const BlockQ5_K& b, uint8_t* q) {
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      q[64 * c + l] = static_cast<uint8_t>((b.qs[32 * c + l] & 0xF) | ((b.qh[l] >> (2 * c)) & 1) << 4);
      q[64 * c + 32 + l] = static_cast<uint8_t>((b.qs[32 * c + l] >> 4) | ((b.qh[l] >> (2 * c + 1)) & 1) << 4);
    }
  }
}

// The 256 quants of a Q6_K block in element order, 0..63 (the file's value plus 32): see
// BlockQ6_K.
void q6_k_quants(const BlockQ6_K& b, uint8_t* q) {
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = b.ql + 64 * h;
    const uint8_t* qh = b.qh + 32 * h;
    uint8_t* out = q + 128 * h;
    for (int l = 0; l < 32; ++l) {
      out[l] = static_cast<uint8_t>((ql[l] & 0xF) | (qh[l] & 3) << 4);
      out[l + 32] = static_cast<uint8_t>((ql[l + 32] & 0xF) | ((qh[l] >> 2) & 3) << 4);
      out[l + 64] = static_cast<uint8_t>((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4);
      out[l + 96] = static_cast<uint8_t>((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4);
    }
  }
}

}  // namespace

void pack_q8_0_rows_x8(const WeightMatrix& w, uint8_t* dst, int64_t g0, int64_t g1) {
  const int64_t nb = w.n_in / kQK8_0;
  auto* out = reinterpret_cast<BlockQ8_0x8*>(dst);
  for (int64_t g = g0; g < g1; ++g) {
    for (int64_t b = 0; b < nb; ++b) {
      BlockQ8_0x8& o = out[g * nb + b];
      for (int r = 0; r < kPackedRows; ++r) {
        const auto& in = row_block<BlockQ8_0>(w, g * kPackedRows + r, b);
        o.d[r] = in.d;
        for (int c = 0; c < kQK8_0 / 4; ++c) std::memcpy(o.qs + c * 32 + r * 4, in.qs + c * 4, 4);
      }
    }
  }
}

void pack_q8_0_rows_x16(const WeightMatrix& w, uint8_t* dst, int64_t g0, int64_t g1) {
  const int64_t nb = w.n_in / kQK8_0;
  auto* out = reinterpret_cast<BlockQ8_0x16*>(dst);
  for (int64_t g = g0; g < g1; ++g) {
    for (int64_t b = 0; b < nb; ++b) {
      BlockQ8_0x16& o = out[g * nb + b];
      for (int r = 0; r < 16; ++r) {
        const auto& in = row_block<BlockQ8_0>(w, g * 16 + r, b);
        o.d[r] = in.d;
        for (int c = 0; c < kQK8_0 / 4; ++c) {
          uint32_t four;  // plus 128 in each byte: the sign bit flipped
          std::memcpy(&four, in.qs + 4 * c, 4);
          four ^= 0x80808080u;
          std::memcpy(o.qs + c * 64 + r * 4, &four, 4);
        }
      }
    }
  }
}

void pack_q4_0_rows_x16(const WeightMatrix& w, uint8_t* dst, int64_t g0, int64_t g1) {
  const int64_t nb = w.n_in / kQK8_0;
  auto* out = reinterpret_cast<BlockQ4_0x16*>(dst);
  for (int64_t g = g0; g < g1; ++g) {
    for (int64_t b = 0; b < nb; ++b) {
      BlockQ4_0x16& o = out[g * nb + b];
      for (int r = 0; r < 16; ++r) {
        const auto& in = row_block<BlockQ4_0>(w, g * 16 + r, b);
        o.d[r] = in.d;
        // Element i < 16 is the low nibble of qs[i], element 16 + i its high nibble.
        for (int k = 0; k < 4; ++k) {
          for (int e = 0; e < 4; ++e) {
            const uint8_t lo = in.qs[4 * k + e] & 0xF, hi = in.qs[4 * k + e] >> 4;
            o.qs[k][r * 4 + e] = static_cast<uint8_t>(lo | hi << 4);
          }
        }
      }
    }
  }
}

namespace {

// Q4_K and Q5_K (In: BlockQ4_K or BlockQ5_K, Out: BlockQ4_Kx16 or BlockQ5_Kx16), whose
// layouts differ only in Q5_K's fifth bits, kept apart in qh.
template <typename In, typename Out, void (*quants)(const In&, uint8_t*)>
void pack_k_rows_x16(const WeightMatrix& w, uint8_t* dst, int64_t g0, int64_t g1) {
  constexpr bool kFifthBit = std::is_same_v<Out, BlockQ5_Kx16>;
  const int64_t nb = w.n_in / kQK_K;
  auto* out = reinterpret_cast<Out*>(dst);
  for (int64_t g = g0; g < g1; ++g) {
    for (int64_t b = 0; b < nb; ++b) {
      Out& o = out[g * nb + b];
      if constexpr (kFifthBit) std::memset(o.qh, 0, sizeof o.qh);
      for (int r = 0; r < 16; ++r) {
        const auto& in = row_block<In>(w, g * 16 + r, b);
        uint8_t q[kQK_K];
        quants(in, q);
        o.d[r] = in.d;
        o.dmin[r] = in.dmin;
        for (int j = 0; j < 8; ++j) {
          uint8_t scale, min;
          k4_scale_min(j, in.scales, scale, min);
          o.scales[j][r] = scale;
          o.mins[j][r] = min;
          for (int k = 0; k < 4; ++k) {
            for (int e = 0; e < 4; ++e) {
              const uint8_t lo = q[32 * j + 4 * k + e];
              const uint8_t hi = q[32 * j + 16 + 4 * k + e];
              o.qs[j][k][r * 4 + e] = static_cast<uint8_t>((lo & 0xF) | (hi & 0xF) << 4);
              if constexpr (kFifthBit) {
                o.qh[j][r * 4 + e] |= static_cast<uint8_t>((lo >> 4) << k | (hi >> 4) << (4 + k));
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace

void pack_q4_k_rows_x16(const WeightMatrix& w, uint8_t* dst, int64_t g0, int64_t g1) {
  pack_k_rows_x16<BlockQ4_K, BlockQ4_Kx16, q4_k_quants>(w, dst, g0, g1);
}

void pack_q5_k_rows_x16(const WeightMatrix& w, uint8_t* dst, int64_t g0, int64_t g1) {
  pack_k_rows_x16<BlockQ5_K, BlockQ5_Kx16, q5_k_quants>(w, dst, g0, g1);
}

void pack_q6_k_rows_x16(const WeightMatrix& w, uint8_t* dst, int64_t g0, int64_t g1) {
  const int64_t nb = w.n_in / kQK_K;
  auto* out = reinterpret_cast<BlockQ6_Kx16*>(dst);
  for (int64_t g = g0; g < g1; ++g) {
    for (int64_t b = 0; b < nb; ++b) {
      BlockQ6_Kx16& o = out[g * nb + b];
      std::memset(o.qh, 0, sizeof o.qh);
      for (int r = 0; r < 16; ++r) {
        const auto& in = row_block<BlockQ6_K>(w, g * 16 + r, b);
        uint8_t q[kQK_K];
        q6_k_quants(in, q);
        o.d[r] = in.d;
        for (int grp = 0; grp < 16; ++grp) o.scales[grp][r] = in.scales[grp];
        for (int gi = 0; gi < 8; ++gi) {
          for (int k = 0; k < 4; ++k) {
            for (int e = 0; e < 4; ++e) {
              const uint8_t lo = q[4 * (4 * gi + k) + e];
              const uint8_t hi = q[4 * (32 + 4 * gi + k) + e];
              o.ql[gi][k][r * 4 + e] = static_cast<uint8_t>((lo & 0xF) | (hi & 0xF) << 4);
              o.qh[gi][0][r * 4 + e] |= static_cast<uint8_t>((lo >> 4) << (2 * k));
              o.qh[gi][1][r * 4 + e] |= static_cast<uint8_t>((hi >> 4) << (2 * k));
            }
          }
        }
      }
    }
  }
}

}  // namespace entropix
