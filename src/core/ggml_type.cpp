#include "core/ggml_type.h"

#include "core/error.h"

namespace entropix {

std::optional<GgmlTypeTraits> ggml_type_traits(uint32_t type) {
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::F32: return GgmlTypeTraits{"f32", 1, 4, true};
    case GgmlType::F16: return GgmlTypeTraits{"f16", 1, 2, true};
    case GgmlType::BF16: return GgmlTypeTraits{"bf16", 1, 2, true};
    case GgmlType::Q4_0: return GgmlTypeTraits{"q4_0", 32, 18, true};
    case GgmlType::Q4_1: return GgmlTypeTraits{"q4_1", 32, 20, false};
    case GgmlType::Q5_0: return GgmlTypeTraits{"q5_0", 32, 22, false};
    case GgmlType::Q5_1: return GgmlTypeTraits{"q5_1", 32, 24, false};
    case GgmlType::Q8_0: return GgmlTypeTraits{"q8_0", 32, 34, true};
    case GgmlType::Q8_1: return GgmlTypeTraits{"q8_1", 32, 36, false};
    case GgmlType::Q2_K: return GgmlTypeTraits{"q2_K", 256, 84, false};
    case GgmlType::Q3_K: return GgmlTypeTraits{"q3_K", 256, 110, false};
    case GgmlType::Q4_K: return GgmlTypeTraits{"q4_K", 256, 144, true};
    case GgmlType::Q5_K: return GgmlTypeTraits{"q5_K", 256, 176, true};
    case GgmlType::Q6_K: return GgmlTypeTraits{"q6_K", 256, 210, true};
    case GgmlType::Q8_K: return GgmlTypeTraits{"q8_K", 256, 292, false};
    case GgmlType::I8: return GgmlTypeTraits{"i8", 1, 1, false};
    case GgmlType::I16: return GgmlTypeTraits{"i16", 1, 2, false};
    case GgmlType::I32: return GgmlTypeTraits{"i32", 1, 4, false};
    case GgmlType::I64: return GgmlTypeTraits{"i64", 1, 8, false};
    case GgmlType::F64: return GgmlTypeTraits{"f64", 1, 8, false};
  }
  return std::nullopt;
}

size_t ggml_row_bytes(GgmlType type, int64_t n) {
  auto traits = ggml_type_traits(static_cast<uint32_t>(type));
  if (!traits) throw Error("unknown tensor type " + std::to_string(static_cast<uint32_t>(type)));
  if (n < 0 || n % traits->block_elems != 0) {
    throw Error("row of " + std::to_string(n) + " elements is not a multiple of the " +
                std::string(traits->name) + " block size " + std::to_string(traits->block_elems));
  }
  return static_cast<size_t>(n / traits->block_elems) * traits->block_bytes;
}

std::string_view ggml_type_name(GgmlType type) {
  auto traits = ggml_type_traits(static_cast<uint32_t>(type));
  return traits ? traits->name : std::string_view("unknown");
}

}  // namespace entropix
