// Tensor element types as numbered by GGML/GGUF, and their block layout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace entropix {

// Values are the on-disk GGUF numbers; do not renumber.
enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  BF16 = 30,
};

struct GgmlTypeTraits {
  std::string_view name;  // "q4_K", as llama.cpp prints it
  int64_t block_elems;     // elements per block (1 for plain types)
  size_t block_bytes;      // bytes per block
  bool supported;          // whether our kernels compute with it
};

// Traits of a type number read from a file; nullopt for numbers GGML never assigned.
std::optional<GgmlTypeTraits> ggml_type_traits(uint32_t type);

// Bytes of a row of n elements; n must be a multiple of the block size.
size_t ggml_row_bytes(GgmlType type, int64_t n);

std::string_view ggml_type_name(GgmlType type);

}  // namespace entropix
