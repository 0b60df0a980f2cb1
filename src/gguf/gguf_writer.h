// Builds GGUF v3 files (metadata, then tensors) laid out and padded as the GGUF
// spec says, so llama.cpp and our reader load them. Used by `gen-model` for
// random-weight models and by tests to build small models and bad files.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/ggml_type.h"
#include "gguf/gguf.h"

namespace entropix {

class GgufWriter {
 public:
  // alignment: of the data section and every tensor; a nonzero power of two.
  // Any value other than the default 32 is also stored as `general.alignment`.
  explicit GgufWriter(uint32_t alignment = 32);

  // Metadata, written in the order added. A key may be added only once;
  // "general.alignment" added as u32 also sets the alignment.
  void add_u8(std::string_view key, uint8_t v);
  void add_i8(std::string_view key, int8_t v);
  void add_u16(std::string_view key, uint16_t v);
  void add_i16(std::string_view key, int16_t v);
  void add_u32(std::string_view key, uint32_t v);
  void add_i32(std::string_view key, int32_t v);
  void add_u64(std::string_view key, uint64_t v);
  void add_i64(std::string_view key, int64_t v);
  void add_f32(std::string_view key, float v);
  void add_f64(std::string_view key, double v);
  void add_bool(std::string_view key, bool v);
  void add_string(std::string_view key, std::string_view v);

  void add_string_array(std::string_view key, std::span<const std::string> v);
  void add_u8_array(std::string_view key, std::span<const uint8_t> v);
  void add_i8_array(std::string_view key, std::span<const int8_t> v);
  void add_u16_array(std::string_view key, std::span<const uint16_t> v);
  void add_i16_array(std::string_view key, std::span<const int16_t> v);
  void add_u32_array(std::string_view key, std::span<const uint32_t> v);
  void add_i32_array(std::string_view key, std::span<const int32_t> v);
  void add_u64_array(std::string_view key, std::span<const uint64_t> v);
  void add_i64_array(std::string_view key, std::span<const int64_t> v);
  void add_f32_array(std::string_view key, std::span<const float> v);
  void add_f64_array(std::string_view key, std::span<const double> v);
  void add_bool_array(std::string_view key, const std::vector<bool>& v);

  // A tensor of shape ne (ne[0] innermost, 1..4 dims, each >= 1) whose bytes must
  // be exactly ggml_row_bytes(type, ne[0]) * ne[1] * ...; the bytes are copied.
  // Names are unique and shorter than 64 bytes (llama.cpp's GGML_MAX_NAME).
  void add_tensor(std::string_view name, GgmlType type, std::vector<int64_t> ne, std::span<const uint8_t> bytes);
  // Same, taking ownership of the bytes (no copy for large random models).
  void add_tensor(std::string_view name, GgmlType type, std::vector<int64_t> ne, std::vector<uint8_t>&& bytes);
  // A tensor whose bytes make() returns while the file is written, one tensor at a time,
  // so that a file larger than memory can be written; a wrong size from make() is an Error.
  void add_tensor_deferred(std::string_view name, GgmlType type, std::vector<int64_t> ne,
                           std::function<std::vector<uint8_t>()> make);

  uint32_t alignment() const { return alignment_; }
  size_t tensor_count() const { return tensors_.size(); }
  size_t metadata_count() const { return kvs_.size(); }

  // The whole file: header, metadata, tensor infos, padding, aligned tensor data.
  std::vector<uint8_t> to_bytes() const;
  // Writes to_bytes() to path, streaming; throws Error naming the path on failure.
  void write(const std::string& path) const;

 private:
  struct Kv {
    std::string key;
    std::vector<uint8_t> encoded;  // type tag and value, as on disk
  };
  struct Tensor {
    std::string name;
    GgmlType type;
    std::vector<int64_t> ne;  // [n_dims], ne[0] innermost
    std::vector<uint8_t> bytes;
    uint64_t size = 0;                            // bytes of data
    std::function<std::vector<uint8_t>()> make;  // deferred tensors: makes the bytes
  };

  // Checks the name, type and shape of a new tensor; returns its byte size.
  uint64_t check_tensor(std::string_view name, GgmlType type, const std::vector<int64_t>& ne) const;

  void add_kv(std::string_view key, std::vector<uint8_t> encoded);
  template <typename T>
  void add_scalar(std::string_view key, GgufType type, T v);
  template <typename T>
  void add_array(std::string_view key, GgufType elem, std::span<const T> v);
  // Writes everything through sink(data, n).
  template <typename Sink>
  void emit(Sink&& sink) const;

  uint32_t alignment_;
  std::vector<Kv> kvs_;
  std::vector<Tensor> tensors_;
};

}  // namespace entropix
