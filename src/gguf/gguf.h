// Reader for GGUF files (versions 2 and 3): memory-mapped, every field validated
// before use, so a truncated or hostile file is an Error naming the problem.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/ggml_type.h"

namespace entropix {

// On-disk metadata value types.
enum class GgufType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6,
  BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
std::string_view gguf_type_name(GgufType type);

// One metadata value. Integers keep their sign class; arrays hold one element type.
struct GgufValue {
  GgufType type = GgufType::UINT8;
  GgufType elem_type = GgufType::UINT8;  // arrays only
  // scalar: uint64_t (unsigned ints, bool), int64_t (signed ints), double (floats), std::string
  // array: vector of one of these, by element type (nested arrays are rejected)
  std::variant<uint64_t, int64_t, double, std::string, std::vector<uint64_t>, std::vector<int64_t>,
               std::vector<double>, std::vector<std::string>>
      data;

  size_t array_size() const;  // 0 for scalars
};

struct GgufTensorInfo {
  std::string name;
  GgmlType type = GgmlType::F32;
  int n_dims = 0;
  int64_t ne[4] = {1, 1, 1, 1};  // ne[0] is the innermost (row) length
  uint64_t offset = 0;            // relative to the start of the data section
  size_t nbytes = 0;

  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
};

class GgufFile {
 public:
  // Maps the file read-only and validates header, metadata and tensor directory.
  static std::unique_ptr<GgufFile> open(const std::string& path);
  // Parses a copy of the bytes (for tests and fuzzing); same validation.
  static std::unique_ptr<GgufFile> from_bytes(std::span<const uint8_t> bytes, std::string name = "<memory>");

  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  size_t file_size() const { return size_; }

  const std::map<std::string, GgufValue, std::less<>>& metadata() const { return kv_; }
  const GgufValue* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }

  // Typed getters: throw Error naming the key and the expected/found type when the
  // value is absent (no default given) or of an incompatible type. Integer getters
  // accept any integer type whose value fits; float getters accept floats and ints.
  std::string get_string(std::string_view key) const;
  std::string get_string(std::string_view key, const std::string& fallback) const;
  uint64_t get_u64(std::string_view key) const;
  uint64_t get_u64(std::string_view key, uint64_t fallback) const;
  uint32_t get_u32(std::string_view key) const;
  uint32_t get_u32(std::string_view key, uint32_t fallback) const;
  int64_t get_i64(std::string_view key, int64_t fallback) const;
  double get_f64(std::string_view key) const;
  double get_f64(std::string_view key, double fallback) const;
  bool get_bool(std::string_view key, bool fallback) const;
  const std::vector<std::string>& get_string_array(std::string_view key) const;
  std::vector<double> get_f64_array(std::string_view key) const;   // float or int arrays
  std::vector<int64_t> get_i64_array(std::string_view key) const;  // integer arrays

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;
  // Start of the tensor's bytes (bounds were checked at open).
  const uint8_t* tensor_data(const GgufTensorInfo& info) const;
  // The tensor's nbytes bytes, same checks as tensor_data.
  std::span<const uint8_t> tensor_bytes(const GgufTensorInfo& info) const;
  // File offset where the (aligned) tensor data section starts.
  size_t data_offset() const { return data_offset_; }

  // Tells the OS that bytes [p, p + n) of the mapping will not be read for a long
  // time: the whole pages inside are dropped from this process's memory and read
  // from the file again if they ever are. No effect on bytes held in memory
  // (from_bytes). The contents seen through tensor_data do not change.
  void release_pages(const uint8_t* p, size_t n) const;

 private:
  GgufFile() = default;
  void parse();

  std::string path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  const uint8_t* base_ = nullptr;  // mapped or owned bytes
  size_t size_ = 0;
  size_t data_offset_ = 0;  // start of the tensor data section
  void* mapping_ = nullptr; // non-null when mmapped
  std::vector<uint8_t> owned_;
  std::map<std::string, GgufValue, std::less<>> kv_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

}  // namespace entropix
