#include "kernels/repack.h"

#include <cstring>

namespace entropix {

bool packable(const WeightMatrix& w) {
  return w.type == GgmlType::Q8_0 && w.n_out >= kPackedRows && w.n_in % kQK8_0 == 0;
}

size_t packed_bytes(const WeightMatrix& w) {
  if (!packable(w)) return 0;
  return static_cast<size_t>(w.n_out / kPackedRows) * static_cast<size_t>(w.n_in / kQK8_0) *
         sizeof(BlockQ8_0x8);
}

void pack_q8_0_rows(const WeightMatrix& w, uint8_t* dst, int64_t g0, int64_t g1) {
  const int64_t nb = w.n_in / kQK8_0;
  auto* out = reinterpret_cast<BlockQ8_0x8*>(dst);
  for (int64_t g = g0; g < g1; ++g) {
    for (int64_t b = 0; b < nb; ++b) {
      BlockQ8_0x8& o = out[g * nb + b];
      for (int r = 0; r < kPackedRows; ++r) {
        const auto* row = reinterpret_cast<const BlockQ8_0*>(w.data + (g * kPackedRows + r) * w.row_bytes);
        o.d[r] = row[b].d;
        for (int c = 0; c < kQK8_0 / 4; ++c) std::memcpy(o.qs + c * 32 + r * 4, row[b].qs + c * 4, 4);
      }
    }
  }
}

}  // namespace entropix
