// GGUF v3 writer. Layout (GGUF spec): header, key/value pairs, tensor infos, zero
// padding to the alignment, then each tensor's bytes at its aligned offset with
// zero padding after it, the last one included (as llama.cpp's writer does).
#include "gguf/gguf_writer.h"

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <type_traits>

#include "core/error.h"

namespace entropix {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF"
constexpr uint32_t kVersion = 3;
constexpr size_t kMaxNameBytes = 63;     // llama.cpp: GGML_MAX_NAME (64) including the NUL

template <typename T>
void put(std::vector<uint8_t>& out, T v) {
  static_assert(std::is_trivially_copyable_v<T>);
  uint8_t raw[sizeof(T)];
  std::memcpy(raw, &v, sizeof(T));
  out.insert(out.end(), raw, raw + sizeof(T));
}

void put_string(std::vector<uint8_t>& out, std::string_view s) {
  put<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

uint64_t align_up(uint64_t n, uint64_t alignment) { return (n + alignment - 1) / alignment * alignment; }

void check_alignment(uint64_t alignment) {
  if (alignment == 0 || !std::has_single_bit(alignment)) {
    throw Error("GgufWriter: general.alignment must be a nonzero power of two, found " + std::to_string(alignment));
  }
}

}  // namespace

GgufWriter::GgufWriter(uint32_t alignment) : alignment_(32) {
  check_alignment(alignment);
  if (alignment != 32) add_u32("general.alignment", alignment);
}

void GgufWriter::add_kv(std::string_view key, std::vector<uint8_t> encoded) {
  if (key.empty()) throw Error("GgufWriter: metadata key must not be empty");
  for (const Kv& kv : kvs_) {
    if (kv.key == key) throw Error("GgufWriter: duplicate metadata key '" + std::string(key) + "'");
  }
  uint32_t tag;
  std::memcpy(&tag, encoded.data(), sizeof(tag));
  if (key == "general.alignment" && tag != static_cast<uint32_t>(GgufType::UINT32)) {
    throw Error("GgufWriter: key 'general.alignment': expected u32, found " +
                std::string(gguf_type_name(static_cast<GgufType>(tag))));
  }
  kvs_.push_back({std::string(key), std::move(encoded)});
}

template <typename T>
void GgufWriter::add_scalar(std::string_view key, GgufType type, T v) {
  std::vector<uint8_t> e;
  put<uint32_t>(e, static_cast<uint32_t>(type));
  put<T>(e, v);
  add_kv(key, std::move(e));
}

template <typename T>
void GgufWriter::add_array(std::string_view key, GgufType elem, std::span<const T> v) {
  std::vector<uint8_t> e;
  put<uint32_t>(e, static_cast<uint32_t>(GgufType::ARRAY));
  put<uint32_t>(e, static_cast<uint32_t>(elem));
  put<uint64_t>(e, v.size());
  for (const T& x : v) {
    if constexpr (std::is_same_v<T, std::string>) put_string(e, x);
    else put<T>(e, x);
  }
  add_kv(key, std::move(e));
}

void GgufWriter::add_u8(std::string_view key, uint8_t v) { add_scalar(key, GgufType::UINT8, v); }
void GgufWriter::add_i8(std::string_view key, int8_t v) { add_scalar(key, GgufType::INT8, v); }
void GgufWriter::add_u16(std::string_view key, uint16_t v) { add_scalar(key, GgufType::UINT16, v); }
void GgufWriter::add_i16(std::string_view key, int16_t v) { add_scalar(key, GgufType::INT16, v); }
void GgufWriter::add_u32(std::string_view key, uint32_t v) {
  if (key == "general.alignment") check_alignment(v);
  add_scalar(key, GgufType::UINT32, v);
  if (key == "general.alignment") alignment_ = v;
}
void GgufWriter::add_i32(std::string_view key, int32_t v) { add_scalar(key, GgufType::INT32, v); }
void GgufWriter::add_u64(std::string_view key, uint64_t v) { add_scalar(key, GgufType::UINT64, v); }
void GgufWriter::add_i64(std::string_view key, int64_t v) { add_scalar(key, GgufType::INT64, v); }
void GgufWriter::add_f32(std::string_view key, float v) { add_scalar(key, GgufType::FLOAT32, v); }
void GgufWriter::add_f64(std::string_view key, double v) { add_scalar(key, GgufType::FLOAT64, v); }
void GgufWriter::add_bool(std::string_view key, bool v) { add_scalar<uint8_t>(key, GgufType::BOOL, v ? 1 : 0); }

void GgufWriter::add_string(std::string_view key, std::string_view v) {
  std::vector<uint8_t> e;
  put<uint32_t>(e, static_cast<uint32_t>(GgufType::STRING));
  put_string(e, v);
  add_kv(key, std::move(e));
}

void GgufWriter::add_string_array(std::string_view key, std::span<const std::string> v) {
  add_array(key, GgufType::STRING, v);
}
void GgufWriter::add_u8_array(std::string_view key, std::span<const uint8_t> v) { add_array(key, GgufType::UINT8, v); }
void GgufWriter::add_i8_array(std::string_view key, std::span<const int8_t> v) { add_array(key, GgufType::INT8, v); }
void GgufWriter::add_u16_array(std::string_view key, std::span<const uint16_t> v) { add_array(key, GgufType::UINT16, v); }
void GgufWriter::add_i16_array(std::string_view key, std::span<const int16_t> v) { add_array(key, GgufType::INT16, v); }
void GgufWriter::add_u32_array(std::string_view key, std::span<const uint32_t> v) { add_array(key, GgufType::UINT32, v); }
void GgufWriter::add_i32_array(std::string_view key, std::span<const int32_t> v) { add_array(key, GgufType::INT32, v); }
void GgufWriter::add_u64_array(std::string_view key, std::span<const uint64_t> v) { add_array(key, GgufType::UINT64, v); }
void GgufWriter::add_i64_array(std::string_view key, std::span<const int64_t> v) { add_array(key, GgufType::INT64, v); }
void GgufWriter::add_f32_array(std::string_view key, std::span<const float> v) { add_array(key, GgufType::FLOAT32, v); }
void GgufWriter::add_f64_array(std::string_view key, std::span<const double> v) { add_array(key, GgufType::FLOAT64, v); }
void GgufWriter::add_bool_array(std::string_view key, const std::vector<bool>& v) {
  std::vector<uint8_t> bytes(v.begin(), v.end());
  add_array(key, GgufType::BOOL, std::span<const uint8_t>(bytes));
}

void GgufWriter::add_tensor(std::string_view name, GgmlType type, std::vector<int64_t> ne,
                            std::span<const uint8_t> bytes) {
  add_tensor(name, type, std::move(ne), std::vector<uint8_t>(bytes.begin(), bytes.end()));
}

uint64_t GgufWriter::check_tensor(std::string_view name, GgmlType type, const std::vector<int64_t>& ne) const {
  std::string where = "GgufWriter: tensor '" + std::string(name) + "': ";
  if (name.empty() || name.size() > kMaxNameBytes) {
    throw Error(where + "name must be 1.." + std::to_string(kMaxNameBytes) + " bytes, found " +
                std::to_string(name.size()));
  }
  for (const Tensor& t : tensors_) {
    if (t.name == name) throw Error("GgufWriter: duplicate tensor name '" + std::string(name) + "'");
  }
  auto traits = ggml_type_traits(static_cast<uint32_t>(type));
  if (!traits) throw Error(where + "unknown tensor type " + std::to_string(static_cast<uint32_t>(type)));
  if (ne.empty() || ne.size() > 4) throw Error(where + "expected 1..4 dimensions, found " + std::to_string(ne.size()));
  uint64_t rows = 1;
  for (size_t d = 0; d < ne.size(); ++d) {
    if (ne[d] < 1) throw Error(where + "dimension " + std::to_string(d) + " must be >= 1, found " + std::to_string(ne[d]));
    if (d > 0 && __builtin_mul_overflow(rows, static_cast<uint64_t>(ne[d]), &rows)) {
      throw Error(where + "element count overflows");
    }
  }
  uint64_t expected;
  if (__builtin_mul_overflow(static_cast<uint64_t>(ggml_row_bytes(type, ne[0])), rows, &expected)) {
    throw Error(where + "byte size overflows");
  }
  return expected;
}

void GgufWriter::add_tensor(std::string_view name, GgmlType type, std::vector<int64_t> ne,
                            std::vector<uint8_t>&& bytes) {
  const uint64_t expected = check_tensor(name, type, ne);
  if (bytes.size() != expected) {
    throw Error("GgufWriter: tensor '" + std::string(name) + "': expected " + std::to_string(expected) + " bytes of " +
                std::string(ggml_type_name(type)) + " data, found " + std::to_string(bytes.size()));
  }
  tensors_.push_back({std::string(name), type, std::move(ne), std::move(bytes), expected, {}});
}

void GgufWriter::add_tensor_deferred(std::string_view name, GgmlType type, std::vector<int64_t> ne,
                                     std::function<std::vector<uint8_t>()> make) {
  const uint64_t expected = check_tensor(name, type, ne);
  tensors_.push_back({std::string(name), type, std::move(ne), {}, expected, std::move(make)});
}

template <typename Sink>
void GgufWriter::emit(Sink&& sink) const {
  std::vector<uint8_t> head;
  put<uint32_t>(head, kMagic);
  put<uint32_t>(head, kVersion);
  put<uint64_t>(head, tensors_.size());
  put<uint64_t>(head, kvs_.size());
  for (const Kv& kv : kvs_) {
    put_string(head, kv.key);
    head.insert(head.end(), kv.encoded.begin(), kv.encoded.end());
  }
  uint64_t offset = 0;  // relative to the data section
  for (const Tensor& t : tensors_) {
    put_string(head, t.name);
    put<uint32_t>(head, static_cast<uint32_t>(t.ne.size()));
    for (int64_t n : t.ne) put<int64_t>(head, n);
    put<uint32_t>(head, static_cast<uint32_t>(t.type));
    put<uint64_t>(head, offset);
    offset = align_up(offset + t.size, alignment_);
  }
  head.resize(align_up(head.size(), alignment_), 0);
  sink(head.data(), head.size());

  const std::vector<uint8_t> zeros(alignment_, 0);
  for (const Tensor& t : tensors_) {
    if (t.make) {
      const std::vector<uint8_t> bytes = t.make();
      if (bytes.size() != t.size) {
        throw Error("GgufWriter: tensor '" + t.name + "': made " + std::to_string(bytes.size()) + " bytes, expected " +
                    std::to_string(t.size));
      }
      sink(bytes.data(), bytes.size());
    } else {
      sink(t.bytes.data(), t.bytes.size());
    }
    size_t pad = align_up(t.size, alignment_) - t.size;
    sink(zeros.data(), pad);
  }
}

std::vector<uint8_t> GgufWriter::to_bytes() const {
  std::vector<uint8_t> out;
  emit([&](const uint8_t* p, size_t n) { out.insert(out.end(), p, p + n); });
  return out;
}

void GgufWriter::write(const std::string& path) const {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!f) throw Error(path + ": cannot open for writing: " + std::strerror(errno));
  emit([&](const uint8_t* p, size_t n) {
    if (n > 0 && std::fwrite(p, 1, n, f.get()) != n) {
      throw Error(path + ": write failed: " + std::strerror(errno));
    }
  });
  FILE* raw = f.release();
  if (std::fclose(raw) != 0) throw Error(path + ": closing after write failed: " + std::strerror(errno));
}

}  // namespace entropix
