// GGUF reader: a bounds-checked cursor walks header, metadata and tensor directory;
// every count, length, shape and offset is validated before it is used.
#include "gguf/gguf.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "core/error.h"

namespace entropix {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian uint32
constexpr uint64_t kDefaultAlignment = 32;
constexpr uint32_t kMaxDims = 4;

// Smallest encodings, used to bound counts by the bytes that remain so that a
// hostile count is rejected before anything is allocated for it.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;              // key length, type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // name length, n_dims, 1 dim, type, offset

static_assert(std::endian::native == std::endian::little, "the GGUF reader assumes a little-endian host");

std::string type_label(GgufType type) {
  std::string_view name = gguf_type_name(type);
  return name.empty() ? "type " + std::to_string(static_cast<uint32_t>(type)) : std::string(name);
}

bool is_integer(GgufType t) {
  switch (t) {
    case GgufType::UINT8: case GgufType::INT8: case GgufType::UINT16: case GgufType::INT16:
    case GgufType::UINT32: case GgufType::INT32: case GgufType::UINT64: case GgufType::INT64:
      return true;
    default:
      return false;
  }
}

bool is_signed(GgufType t) {
  return t == GgufType::INT8 || t == GgufType::INT16 || t == GgufType::INT32 || t == GgufType::INT64;
}

bool is_float(GgufType t) { return t == GgufType::FLOAT32 || t == GgufType::FLOAT64; }

// Bytes of a fixed-size scalar; 0 for STRING and ARRAY.
uint64_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::UINT8: case GgufType::INT8: case GgufType::BOOL: return 1;
    case GgufType::UINT16: case GgufType::INT16: return 2;
    case GgufType::UINT32: case GgufType::INT32: case GgufType::FLOAT32: return 4;
    case GgufType::UINT64: case GgufType::INT64: case GgufType::FLOAT64: return 8;
    default: return 0;
  }
}

// Reads little-endian fields from [0, size) and reports every failure with the
// file name, the offset where the failing field starts and the entry being read.
class Cursor {
 public:
  Cursor(const uint8_t* base, size_t size, const std::string& file) : base_(base), size_(size), file_(file) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }
  // What is being read ("key 'general.name'", "tensor 'output.weight'"), for errors.
  void set_context(std::string context) { context_ = std::move(context); }

  [[noreturn]] void fail(size_t at, const std::string& what) const {
    throw Error(file_ + ": offset " + std::to_string(at) + ": " + (context_.empty() ? "" : context_ + ": ") + what);
  }

  void need(uint64_t n, const char* what) const {
    if (n > remaining()) {
      fail(pos_, std::string("truncated ") + what + ": expected " + std::to_string(n) + " bytes, found " +
                     std::to_string(remaining()) + " before end of file (" + std::to_string(size_) + " bytes)");
    }
  }

  template <typename T>
  T read(const char* what) {
    static_assert(std::is_trivially_copyable_v<T>);
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, base_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string(const char* what) {
    size_t at = pos_;
    uint64_t len = read<uint64_t>(what);
    if (len > remaining()) {
      fail(at, std::string(what) + " length " + std::to_string(len) + " exceeds the " +
                   std::to_string(remaining()) + " bytes left in the file");
    }
    std::string s(reinterpret_cast<const char*>(base_ + pos_), static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return s;
  }

 private:
  const uint8_t* base_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& file_;
  std::string context_;
};

GgufType read_value_type(Cursor& c, const char* what) {
  size_t at = c.pos();
  uint32_t raw = c.read<uint32_t>(what);
  if (raw > static_cast<uint32_t>(GgufType::FLOAT64)) {
    c.fail(at, std::string("unknown ") + what + " " + std::to_string(raw) + " (expected 0..12)");
  }
  return static_cast<GgufType>(raw);
}

uint64_t read_unsigned(Cursor& c, GgufType t) {
  switch (t) {
    case GgufType::UINT8: return c.read<uint8_t>("u8 value");
    case GgufType::UINT16: return c.read<uint16_t>("u16 value");
    case GgufType::UINT32: return c.read<uint32_t>("u32 value");
    case GgufType::UINT64: return c.read<uint64_t>("u64 value");
    case GgufType::BOOL: {
      size_t at = c.pos();
      uint8_t b = c.read<uint8_t>("bool value");
      if (b > 1) c.fail(at, "bool value must be 0 or 1, found " + std::to_string(b));
      return b;
    }
    default: break;
  }
  c.fail(c.pos(), "internal error: not an unsigned type");
}

int64_t read_signed(Cursor& c, GgufType t) {
  switch (t) {
    case GgufType::INT8: return c.read<int8_t>("i8 value");
    case GgufType::INT16: return c.read<int16_t>("i16 value");
    case GgufType::INT32: return c.read<int32_t>("i32 value");
    default: return c.read<int64_t>("i64 value");
  }
}

double read_float(Cursor& c, GgufType t) {
  if (t == GgufType::FLOAT32) return c.read<float>("f32 value");
  return c.read<double>("f64 value");
}

template <typename T>
std::vector<T> read_array_elems(Cursor& c, GgufType elem, uint64_t n) {
  std::vector<T> out;
  out.reserve(static_cast<size_t>(n));  // n was bounded by the remaining bytes
  for (uint64_t i = 0; i < n; ++i) {
    if constexpr (std::is_same_v<T, uint64_t>) out.push_back(read_unsigned(c, elem));
    else if constexpr (std::is_same_v<T, int64_t>) out.push_back(read_signed(c, elem));
    else if constexpr (std::is_same_v<T, double>) out.push_back(read_float(c, elem));
    else out.push_back(c.read_string("string array element"));
  }
  return out;
}

GgufValue read_value(Cursor& c, GgufType type) {
  GgufValue v;
  v.type = type;
  if (type == GgufType::STRING) {
    v.data = c.read_string("string value");
  } else if (type == GgufType::ARRAY) {
    GgufType elem = read_value_type(c, "array element type");
    if (elem == GgufType::ARRAY) {
      c.fail(c.pos() - 4, "nested arrays are not supported (array of array)");
    }
    v.elem_type = elem;
    size_t at = c.pos();
    uint64_t n = c.read<uint64_t>("array length");
    uint64_t min_elem = elem == GgufType::STRING ? 8 : scalar_size(elem);
    if (n > c.remaining() / min_elem) {
      c.fail(at, "array of " + std::to_string(n) + " " + type_label(elem) +
                     " elements needs at least " + std::to_string(min_elem) + " bytes each, but only " +
                     std::to_string(c.remaining()) + " bytes are left");
    }
    if (elem == GgufType::STRING) v.data = read_array_elems<std::string>(c, elem, n);
    else if (is_float(elem)) v.data = read_array_elems<double>(c, elem, n);
    else if (is_signed(elem)) v.data = read_array_elems<int64_t>(c, elem, n);
    else v.data = read_array_elems<uint64_t>(c, elem, n);
  } else if (is_float(type)) {
    v.data = read_float(c, type);
  } else if (is_signed(type)) {
    v.data = read_signed(c, type);
  } else {
    v.data = read_unsigned(c, type);
  }
  return v;
}

// a * b, or nullopt when it does not fit in int64.
std::optional<int64_t> checked_mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

std::string describe_found(const GgufValue& v) {
  if (v.type == GgufType::ARRAY) return "array of " + type_label(v.elem_type);
  return type_label(v.type);
}

}  // namespace

std::string_view gguf_type_name(GgufType type) {
  switch (type) {
    case GgufType::UINT8: return "u8";
    case GgufType::INT8: return "i8";
    case GgufType::UINT16: return "u16";
    case GgufType::INT16: return "i16";
    case GgufType::UINT32: return "u32";
    case GgufType::INT32: return "i32";
    case GgufType::FLOAT32: return "f32";
    case GgufType::BOOL: return "bool";
    case GgufType::STRING: return "string";
    case GgufType::ARRAY: return "array";
    case GgufType::UINT64: return "u64";
    case GgufType::INT64: return "i64";
    case GgufType::FLOAT64: return "f64";
  }
  return "";
}

size_t GgufValue::array_size() const {
  if (type != GgufType::ARRAY) return 0;
  return std::visit(
      [](const auto& d) -> size_t {
        if constexpr (std::is_same_v<std::decay_t<decltype(d)>, std::vector<uint64_t>> ||
                      std::is_same_v<std::decay_t<decltype(d)>, std::vector<int64_t>> ||
                      std::is_same_v<std::decay_t<decltype(d)>, std::vector<double>> ||
                      std::is_same_v<std::decay_t<decltype(d)>, std::vector<std::string>>) {
          return d.size();
        } else {
          return 0;
        }
      },
      data);
}

// ---------------------------------------------------------------- loading

std::unique_ptr<GgufFile> GgufFile::open(const std::string& path) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open GGUF file: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw Error(path + ": cannot stat GGUF file: " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(path + ": expected a regular GGUF file, found a directory or special file");
  }
  f->size_ = static_cast<size_t>(st.st_size);
  if (f->size_ > 0) {
    void* m = ::mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    ::close(fd);
    if (m == MAP_FAILED) throw Error(path + ": cannot mmap " + std::to_string(f->size_) + " bytes: " + std::strerror(err));
    f->mapping_ = m;
    f->base_ = static_cast<const uint8_t*>(m);
  } else {
    ::close(fd);
  }
  f->parse();
  return f;
}

std::unique_ptr<GgufFile> GgufFile::from_bytes(std::span<const uint8_t> bytes, std::string name) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = std::move(name);
  f->owned_.assign(bytes.begin(), bytes.end());
  f->base_ = f->owned_.data();
  f->size_ = f->owned_.size();
  f->parse();
  return f;
}

GgufFile::~GgufFile() {
  if (mapping_) ::munmap(mapping_, size_);
}

void GgufFile::parse() {
  Cursor c(base_, size_, path_);

  if (size_ < 4) c.fail(0, "expected the 4-byte GGUF magic, found a file of " + std::to_string(size_) + " bytes");
  uint32_t magic = c.read<uint32_t>("magic");
  if (magic != kMagic) {
    std::string found;
    for (int i = 0; i < 4; ++i) {
      uint8_t b = base_[i];
      static const char* hex = "0123456789abcdef";
      if (b >= 0x20 && b < 0x7f) found += static_cast<char>(b);
      else found += std::string("\\x") + hex[b >> 4] + hex[b & 15];
    }
    c.fail(0, "bad magic: expected \"GGUF\", found \"" + found + "\" (not a GGUF file)");
  }
  version_ = c.read<uint32_t>("version");
  if (version_ == 1) c.fail(4, "GGUF version 1 is not supported (32-bit counts); expected version 2 or 3");
  if (version_ != 2 && version_ != 3) {
    c.fail(4, "unsupported GGUF version " + std::to_string(version_) + "; expected 2 or 3");
  }
  uint64_t n_tensors = c.read<uint64_t>("tensor count");
  uint64_t n_kv = c.read<uint64_t>("metadata count");
  {
    // Both tables must fit in what is left; checked without overflow.
    uint64_t left = c.remaining();
    bool too_many = n_tensors > left / kMinTensorInfoBytes || n_kv > left / kMinKvBytes ||
                    n_tensors * kMinTensorInfoBytes > left - n_kv * kMinKvBytes;
    if (too_many) {
      c.fail(8, "tensor count " + std::to_string(n_tensors) + " and metadata count " + std::to_string(n_kv) +
                    " cannot fit in the " + std::to_string(left) + " bytes after the header");
    }
  }

  size_t alignment_at = 0;  // where general.alignment was read, for its errors
  for (uint64_t i = 0; i < n_kv; ++i) {
    size_t at = c.pos();
    c.set_context("metadata entry " + std::to_string(i));
    std::string key = c.read_string("metadata key");
    if (key.empty()) c.fail(at, "empty key");
    c.set_context("key '" + key + "'");
    GgufType type = read_value_type(c, "value type");
    GgufValue value = read_value(c, type);
    c.set_context("");
    if (kv_.contains(key)) c.fail(at, "duplicate metadata key '" + key + "'");
    if (key == "general.alignment") alignment_at = at;
    kv_.emplace(std::move(key), std::move(value));
  }

  if (const GgufValue* a = find("general.alignment")) {
    if (!is_integer(a->type)) {
      c.fail(alignment_at, "key 'general.alignment': expected u32, found " + describe_found(*a));
    }
    bool negative = std::holds_alternative<int64_t>(a->data) && std::get<int64_t>(a->data) < 0;
    uint64_t al = negative ? 0
                  : std::holds_alternative<int64_t>(a->data) ? static_cast<uint64_t>(std::get<int64_t>(a->data))
                                                             : std::get<uint64_t>(a->data);
    if (negative || al == 0 || !std::has_single_bit(al) || al > std::numeric_limits<uint32_t>::max()) {
      c.fail(alignment_at, "key 'general.alignment': expected a nonzero power of two that fits in u32, found " +
                               (negative ? std::to_string(std::get<int64_t>(a->data)) : std::to_string(al)));
    }
    alignment_ = al;
  } else {
    alignment_ = kDefaultAlignment;
  }

  tensors_.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    size_t at = c.pos();
    GgufTensorInfo t;
    c.set_context("tensor entry " + std::to_string(i));
    t.name = c.read_string("tensor name");
    c.set_context("tensor '" + t.name + "'");
    size_t dims_at = c.pos();
    uint32_t n_dims = c.read<uint32_t>("tensor n_dims");
    if (n_dims < 1 || n_dims > kMaxDims) {
      c.fail(dims_at, "expected n_dims 1.." + std::to_string(kMaxDims) + ", found " + std::to_string(n_dims));
    }
    t.n_dims = static_cast<int>(n_dims);
    int64_t n_elem = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      size_t dim_at = c.pos();
      uint64_t ne = c.read<uint64_t>("tensor dimension");
      if (ne < 1 || ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        c.fail(dim_at, "dimension " + std::to_string(d) + " must be >= 1, found " +
                           std::to_string(static_cast<int64_t>(ne)));
      }
      t.ne[d] = static_cast<int64_t>(ne);
      auto prod = checked_mul(n_elem, t.ne[d]);
      if (!prod) c.fail(dim_at, "element count overflows int64 at dimension " + std::to_string(d));
      n_elem = *prod;
    }
    size_t type_at = c.pos();
    uint32_t raw_type = c.read<uint32_t>("tensor type");
    auto traits = ggml_type_traits(raw_type);
    if (!traits) c.fail(type_at, "unknown tensor type " + std::to_string(raw_type));
    t.type = static_cast<GgmlType>(raw_type);
    if (t.ne[0] % traits->block_elems != 0) {
      c.fail(dims_at, "row length " + std::to_string(t.ne[0]) + " is not a multiple of the " +
                          std::string(traits->name) + " block size " + std::to_string(traits->block_elems));
    }
    // Bytes = blocks per row * block bytes * rows; every step checked for overflow.
    int64_t rows = n_elem / t.ne[0];
    auto row_bytes = checked_mul(t.ne[0] / traits->block_elems, static_cast<int64_t>(traits->block_bytes));
    auto nbytes = row_bytes ? checked_mul(*row_bytes, rows) : std::nullopt;
    if (!nbytes) c.fail(dims_at, "byte size overflows");
    t.nbytes = static_cast<size_t>(*nbytes);
    size_t off_at = c.pos();
    t.offset = c.read<uint64_t>("tensor offset");
    if (t.offset % alignment_ != 0) {
      c.fail(off_at, "data offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                         std::to_string(alignment_));
    }
    c.set_context("");
    if (tensor_index_.contains(t.name)) c.fail(at, "duplicate tensor name '" + t.name + "'");
    tensor_index_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment; a file with
  // no tensors may end before it.
  size_t end = c.pos();
  uint64_t pad = (alignment_ - end % alignment_) % alignment_;
  data_offset_ = end + static_cast<size_t>(pad);
  size_t data_size = data_offset_ <= size_ ? size_ - data_offset_ : 0;
  for (const GgufTensorInfo& t : tensors_) {
    if (t.offset > data_size || t.nbytes > data_size - t.offset) {
      throw Error(path_ + ": tensor '" + t.name + "': data at offset " + std::to_string(t.offset) + " + " +
                  std::to_string(t.nbytes) + " bytes (file offset " + std::to_string(data_offset_) + " + " +
                  std::to_string(t.offset) + ") extends past the end of the file (" + std::to_string(size_) +
                  " bytes, data section " + std::to_string(data_size) + " bytes)");
    }
  }
}

// ---------------------------------------------------------------- lookup

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const uint8_t* GgufFile::tensor_data(const GgufTensorInfo& info) const {
  size_t data_size = data_offset_ <= size_ ? size_ - data_offset_ : 0;
  if (info.offset > data_size || info.nbytes > data_size - info.offset) {
    throw Error(path_ + ": tensor '" + info.name + "': offset " + std::to_string(info.offset) + " + " +
                std::to_string(info.nbytes) + " bytes is outside the data section (" + std::to_string(data_size) +
                " bytes); was this info taken from another file?");
  }
  return base_ + data_offset_ + info.offset;
}

void GgufFile::release_pages(const uint8_t* p, size_t n) const {
  const auto start = reinterpret_cast<uintptr_t>(p), base = reinterpret_cast<uintptr_t>(base_);
  if (!mapping_ || start < base || n > size_ || start - base > size_ - n) return;
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t from = (start + page - 1) / page * page;
  const uintptr_t to = (start + n) / page * page;
  // Advice only: a failure leaves the pages resident, which is still correct.
  if (to > from) ::madvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED);
}

std::span<const uint8_t> GgufFile::tensor_bytes(const GgufTensorInfo& info) const {
  return {tensor_data(info), info.nbytes};
}

// ---------------------------------------------------------------- typed getters

namespace {

[[noreturn]] void wrong_type(const std::string& file, std::string_view key, const char* expected, const GgufValue& v) {
  throw Error(file + ": key '" + std::string(key) + "': expected " + expected + ", found " + describe_found(v));
}

[[noreturn]] void missing(const std::string& file, std::string_view key, const char* expected) {
  throw Error(file + ": key '" + std::string(key) + "': expected " + expected + ", found no such key");
}

// The integer value as signed 128 bits, so every range check is exact.
__int128 integer_value(const std::string& file, std::string_view key, const char* expected, const GgufValue& v) {
  if (!is_integer(v.type)) wrong_type(file, key, expected, v);
  if (const auto* u = std::get_if<uint64_t>(&v.data)) return static_cast<__int128>(*u);
  return static_cast<__int128>(std::get<int64_t>(v.data));
}

template <typename T>
T integer_as(const std::string& file, std::string_view key, const char* expected, const GgufValue& v) {
  __int128 x = integer_value(file, key, expected, v);
  if (x < static_cast<__int128>(std::numeric_limits<T>::min()) || x > static_cast<__int128>(std::numeric_limits<T>::max())) {
    bool neg = x < 0;
    std::string shown = neg ? std::to_string(static_cast<int64_t>(x)) : std::to_string(static_cast<uint64_t>(x));
    throw Error(file + ": key '" + std::string(key) + "': expected " + expected + ", found " + describe_found(v) +
                " value " + shown + " which does not fit");
  }
  return static_cast<T>(x);
}

}  // namespace

std::string GgufFile::get_string(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) missing(path_, key, "string");
  if (v->type != GgufType::STRING) wrong_type(path_, key, "string", *v);
  return std::get<std::string>(v->data);
}

std::string GgufFile::get_string(std::string_view key, const std::string& fallback) const {
  return has(key) ? get_string(key) : fallback;
}

uint64_t GgufFile::get_u64(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) missing(path_, key, "u64");
  return integer_as<uint64_t>(path_, key, "u64", *v);
}

uint64_t GgufFile::get_u64(std::string_view key, uint64_t fallback) const {
  return has(key) ? get_u64(key) : fallback;
}

uint32_t GgufFile::get_u32(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) missing(path_, key, "u32");
  return integer_as<uint32_t>(path_, key, "u32", *v);
}

uint32_t GgufFile::get_u32(std::string_view key, uint32_t fallback) const {
  return has(key) ? get_u32(key) : fallback;
}

int64_t GgufFile::get_i64(std::string_view key, int64_t fallback) const {
  const GgufValue* v = find(key);
  if (!v) return fallback;
  return integer_as<int64_t>(path_, key, "i64", *v);
}

double GgufFile::get_f64(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) missing(path_, key, "f64");
  if (is_float(v->type)) return std::get<double>(v->data);
  if (is_integer(v->type)) return static_cast<double>(integer_value(path_, key, "f64", *v));
  wrong_type(path_, key, "f64 (or an integer)", *v);
}

double GgufFile::get_f64(std::string_view key, double fallback) const {
  return has(key) ? get_f64(key) : fallback;
}

bool GgufFile::get_bool(std::string_view key, bool fallback) const {
  const GgufValue* v = find(key);
  if (!v) return fallback;
  if (v->type != GgufType::BOOL) wrong_type(path_, key, "bool", *v);
  return std::get<uint64_t>(v->data) != 0;
}

const std::vector<std::string>& GgufFile::get_string_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) missing(path_, key, "array of string");
  if (v->type != GgufType::ARRAY || v->elem_type != GgufType::STRING) wrong_type(path_, key, "array of string", *v);
  return std::get<std::vector<std::string>>(v->data);
}

std::vector<double> GgufFile::get_f64_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) missing(path_, key, "array of numbers");
  if (v->type != GgufType::ARRAY) wrong_type(path_, key, "array of numbers", *v);
  if (const auto* d = std::get_if<std::vector<double>>(&v->data)) return *d;
  if (const auto* s = std::get_if<std::vector<int64_t>>(&v->data)) return {s->begin(), s->end()};
  if (v->elem_type != GgufType::BOOL) {
    if (const auto* u = std::get_if<std::vector<uint64_t>>(&v->data)) return {u->begin(), u->end()};
  }
  wrong_type(path_, key, "array of numbers", *v);
}

std::vector<int64_t> GgufFile::get_i64_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) missing(path_, key, "array of integers");
  if (v->type != GgufType::ARRAY || !is_integer(v->elem_type)) wrong_type(path_, key, "array of integers", *v);
  if (const auto* s = std::get_if<std::vector<int64_t>>(&v->data)) return *s;
  const auto& u = std::get<std::vector<uint64_t>>(v->data);
  std::vector<int64_t> out;
  out.reserve(u.size());
  for (size_t i = 0; i < u.size(); ++i) {
    if (u[i] > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      throw Error(path_ + ": key '" + std::string(key) + "': element " + std::to_string(i) + " value " +
                  std::to_string(u[i]) + " does not fit in i64");
    }
    out.push_back(static_cast<int64_t>(u[i]));
  }
  return out;
}

}  // namespace entropix
