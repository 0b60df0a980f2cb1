// GGUF reader and writer: round trips, the layout the spec requires, real files
// from ../shared/testdata, and hostile input (truncation at every byte, crafted
// bad headers, the regression files in tests/data/gguf).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/error.h"
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "support.h"

namespace entropix {
namespace {

namespace fs = std::filesystem;

// ------------------------------------------------------------ raw byte builder
// Assembles GGUF bytes field by field, independently of GgufWriter, so tests can
// state the expected layout and craft files the writer refuses to produce.
struct Raw {
  std::vector<uint8_t> b;

  template <typename T>
  Raw& put(T v) {
    uint8_t raw[sizeof(T)];
    std::memcpy(raw, &v, sizeof(T));
    b.insert(b.end(), raw, raw + sizeof(T));
    return *this;
  }
  Raw& u32(uint32_t v) { return put(v); }
  Raw& u64(uint64_t v) { return put(v); }
  Raw& str(std::string_view s) {
    u64(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Raw& header(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    b.insert(b.end(), {'G', 'G', 'U', 'F'});
    return u32(version).u64(n_tensors).u64(n_kv);
  }
  Raw& kv_u32(std::string_view key, uint32_t v) { return str(key).u32(4).u32(v); }
  Raw& kv_string(std::string_view key, std::string_view v) { return str(key).u32(8).str(v); }
  Raw& tensor(std::string_view name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(ne.size()));
    for (uint64_t n : ne) u64(n);
    return u32(type).u64(offset);
  }
  Raw& pad(size_t alignment) {
    b.resize((b.size() + alignment - 1) / alignment * alignment, 0);
    return *this;
  }
  Raw& zeros(size_t n) {
    b.resize(b.size() + n, 0);
    return *this;
  }
};

std::string parse_error(std::span<const uint8_t> bytes) {
  try {
    GgufFile::from_bytes(bytes, "bad.gguf");
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

#define EXPECT_PARSE_ERROR(bytes, substring)                                    \
  do {                                                                          \
    std::string msg_ = parse_error(bytes);                                      \
    EXPECT_NE(msg_.find(substring), std::string::npos)                          \
        << "expected an error containing \"" << (substring) << "\", got: " << msg_; \
  } while (0)

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed * 31 + i * 7 + (i >> 8));
  return v;
}

// ------------------------------------------------------------ round trips

TEST(GgufRoundTrip, EveryScalarType) {
  GgufWriter w;
  w.add_u8("u8", 255);
  w.add_i8("i8", -128);
  w.add_u16("u16", 65535);
  w.add_i16("i16", -32768);
  w.add_u32("u32", 4294967295u);
  w.add_i32("i32", std::numeric_limits<int32_t>::min());
  w.add_u64("u64", std::numeric_limits<uint64_t>::max());
  w.add_i64("i64", std::numeric_limits<int64_t>::min());
  w.add_f32("f32", 0.1f);
  w.add_f64("f64", 1e300);
  w.add_bool("yes", true);
  w.add_bool("no", false);
  w.add_string("s", std::string("a\0b \xc3\xa9", 6));
  w.add_string("empty", "");
  auto f = GgufFile::from_bytes(w.to_bytes(), "rt.gguf");

  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->metadata().size(), 14u);
  EXPECT_EQ(f->find("u8")->type, GgufType::UINT8);
  EXPECT_EQ(f->get_u32("u8"), 255u);
  EXPECT_EQ(f->find("i8")->type, GgufType::INT8);
  EXPECT_EQ(f->get_i64("i8", 0), -128);
  EXPECT_EQ(f->find("u16")->type, GgufType::UINT16);
  EXPECT_EQ(f->get_u32("u16"), 65535u);
  EXPECT_EQ(f->find("i16")->type, GgufType::INT16);
  EXPECT_EQ(f->get_i64("i16", 0), -32768);
  EXPECT_EQ(f->find("u32")->type, GgufType::UINT32);
  EXPECT_EQ(f->get_u32("u32"), 4294967295u);
  EXPECT_EQ(f->find("i32")->type, GgufType::INT32);
  EXPECT_EQ(f->get_i64("i32", 0), std::numeric_limits<int32_t>::min());
  EXPECT_EQ(f->find("u64")->type, GgufType::UINT64);
  EXPECT_EQ(f->get_u64("u64"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(f->find("i64")->type, GgufType::INT64);
  EXPECT_EQ(f->get_i64("i64", 0), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(f->find("f32")->type, GgufType::FLOAT32);
  EXPECT_EQ(f->get_f64("f32"), static_cast<double>(0.1f));  // stored as f32, widened exactly
  EXPECT_EQ(f->find("f64")->type, GgufType::FLOAT64);
  EXPECT_EQ(f->get_f64("f64"), 1e300);
  EXPECT_TRUE(f->get_bool("yes", false));
  EXPECT_FALSE(f->get_bool("no", true));
  EXPECT_EQ(f->get_string("s"), std::string("a\0b \xc3\xa9", 6));
  EXPECT_EQ(f->get_string("empty"), "");
  EXPECT_EQ(f->find("s")->array_size(), 0u);
  EXPECT_TRUE(f->tensors().empty());
}

TEST(GgufRoundTrip, EveryArrayType) {
  GgufWriter w;
  std::vector<std::string> strings = {"<unk>", "", "\xe2\x96\x81the", std::string(300, 'x')};
  w.add_string_array("strings", strings);
  w.add_u8_array("u8", std::vector<uint8_t>{0, 255});
  w.add_i8_array("i8", std::vector<int8_t>{-128, 127});
  w.add_u16_array("u16", std::vector<uint16_t>{1, 65535});
  w.add_i16_array("i16", std::vector<int16_t>{-32768, 5});
  w.add_u32_array("u32", std::vector<uint32_t>{4294967295u});
  w.add_i32_array("i32", std::vector<int32_t>{-1, 0, 1});
  w.add_u64_array("u64", std::vector<uint64_t>{1ull << 40});
  w.add_i64_array("i64", std::vector<int64_t>{-(1ll << 40)});
  w.add_f32_array("f32", std::vector<float>{1.5f, -0.25f});
  w.add_f64_array("f64", std::vector<double>{3.25});
  w.add_bool_array("bool", {true, false, true});
  w.add_i32_array("empty", std::vector<int32_t>{});
  auto f = GgufFile::from_bytes(w.to_bytes());

  EXPECT_EQ(f->get_string_array("strings"), strings);
  EXPECT_EQ(f->find("strings")->elem_type, GgufType::STRING);
  EXPECT_EQ(f->find("strings")->array_size(), 4u);
  EXPECT_EQ(f->get_i64_array("u8"), (std::vector<int64_t>{0, 255}));
  EXPECT_EQ(f->get_i64_array("i8"), (std::vector<int64_t>{-128, 127}));
  EXPECT_EQ(f->get_i64_array("u16"), (std::vector<int64_t>{1, 65535}));
  EXPECT_EQ(f->get_i64_array("i16"), (std::vector<int64_t>{-32768, 5}));
  EXPECT_EQ(f->get_i64_array("u32"), (std::vector<int64_t>{4294967295ll}));
  EXPECT_EQ(f->get_i64_array("i32"), (std::vector<int64_t>{-1, 0, 1}));
  EXPECT_EQ(f->get_i64_array("u64"), (std::vector<int64_t>{1ll << 40}));
  EXPECT_EQ(f->get_i64_array("i64"), (std::vector<int64_t>{-(1ll << 40)}));
  EXPECT_EQ(f->get_f64_array("f32"), (std::vector<double>{1.5, -0.25}));
  EXPECT_EQ(f->get_f64_array("f64"), (std::vector<double>{3.25}));
  EXPECT_EQ(f->get_f64_array("i32"), (std::vector<double>{-1, 0, 1}));  // ints widen to floats
  const GgufValue* b = f->find("bool");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->elem_type, GgufType::BOOL);
  EXPECT_EQ(std::get<std::vector<uint64_t>>(b->data), (std::vector<uint64_t>{1, 0, 1}));
  EXPECT_EQ(f->find("empty")->array_size(), 0u);
  EXPECT_TRUE(f->get_i64_array("empty").empty());
  for (const char* k : {"u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64", "f32", "f64"}) {
    EXPECT_EQ(f->find(k)->type, GgufType::ARRAY) << k;
  }
  EXPECT_EQ(f->find("u16")->elem_type, GgufType::UINT16);
  EXPECT_EQ(f->find("f32")->elem_type, GgufType::FLOAT32);
}

// Every tensor type at every rank comes back with its shape, type and bytes, at
// an offset that honours the alignment.
TEST(GgufRoundTrip, TensorsOfEveryTypeAndRank) {
  const std::vector<GgmlType> types = {
      GgmlType::F32,  GgmlType::F16,  GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1,
      GgmlType::Q8_0, GgmlType::Q8_1, GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K,
      GgmlType::Q6_K, GgmlType::Q8_K, GgmlType::I8,   GgmlType::I16,  GgmlType::I32,  GgmlType::I64,
      GgmlType::F64,  GgmlType::BF16};
  for (uint32_t alignment : {1u, 8u, 32u, 64u}) {
    GgufWriter w(alignment);
    w.add_string("general.architecture", "test");
    struct Expect {
      std::string name;
      GgmlType type;
      std::vector<int64_t> ne;
      std::vector<uint8_t> bytes;
    };
    std::vector<Expect> expect;
    int i = 0;
    for (GgmlType t : types) {
      int64_t block = ggml_type_traits(static_cast<uint32_t>(t))->block_elems;
      std::vector<std::vector<int64_t>> shapes = {{block * 2}, {block, 3}, {block, 1, 2}, {block * 3, 2, 1, 2}};
      for (const auto& ne : shapes) {
        size_t rows = 1;
        for (size_t d = 1; d < ne.size(); ++d) rows *= static_cast<size_t>(ne[d]);
        std::vector<uint8_t> bytes = pattern(ggml_row_bytes(t, ne[0]) * rows, static_cast<uint8_t>(i));
        // Appended piecewise: GCC 12 warns falsely (-Wrestrict) on "lit" + std::string&&.
        std::string name = "t";
        name += std::to_string(i++);
        name += '.';
        name += ggml_type_name(t);
        w.add_tensor(name, t, ne, bytes);
        expect.push_back({name, t, ne, bytes});
      }
    }
    std::vector<uint8_t> file = w.to_bytes();
    auto f = GgufFile::from_bytes(file);
    EXPECT_EQ(f->alignment(), alignment);
    EXPECT_EQ(f->data_offset() % alignment, 0u);
    ASSERT_EQ(f->tensors().size(), expect.size());
    for (size_t k = 0; k < expect.size(); ++k) {
      const GgufTensorInfo& t = f->tensors()[k];  // directory order is insertion order
      SCOPED_TRACE(expect[k].name + " alignment " + std::to_string(alignment));
      EXPECT_EQ(t.name, expect[k].name);
      EXPECT_EQ(t.type, expect[k].type);
      EXPECT_EQ(t.n_dims, static_cast<int>(expect[k].ne.size()));
      for (int d = 0; d < 4; ++d) {
        int64_t want = d < static_cast<int>(expect[k].ne.size()) ? expect[k].ne[d] : 1;
        EXPECT_EQ(t.ne[d], want);
      }
      EXPECT_EQ(t.offset % alignment, 0u);
      EXPECT_EQ(t.nbytes, expect[k].bytes.size());
      EXPECT_EQ(f->find_tensor(t.name), &t);
      std::span<const uint8_t> got = f->tensor_bytes(t);
      EXPECT_TRUE(std::equal(got.begin(), got.end(), expect[k].bytes.begin(), expect[k].bytes.end()));
    }
    EXPECT_EQ(f->find_tensor("absent"), nullptr);
  }
}

TEST(GgufRoundTrip, WriteToPathAndMmap) {
  GgufWriter w(64);
  w.add_string("general.architecture", "llama");
  w.add_u32("llama.context_length", 128);
  std::vector<float> values = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f};
  w.add_tensor("w", GgmlType::F32, {5}, std::span(reinterpret_cast<const uint8_t*>(values.data()), 20));
  fs::path path = fs::temp_directory_path() / ("entropix_gguf_rt_" + std::to_string(::getpid()) + ".gguf");
  w.write(path.string());
  std::string on_disk = testing::read_file(path);
  std::vector<uint8_t> in_memory = w.to_bytes();
  EXPECT_EQ(on_disk, std::string(in_memory.begin(), in_memory.end()));
  {
    auto f = GgufFile::open(path.string());
    EXPECT_EQ(f->path(), path.string());
    EXPECT_EQ(f->file_size(), on_disk.size());
    EXPECT_EQ(f->alignment(), 64u);
    EXPECT_EQ(f->get_u64("general.alignment"), 64u);
    EXPECT_EQ(f->get_u32("llama.context_length"), 128u);
    const float* p = reinterpret_cast<const float*>(f->tensor_data(*f->find_tensor("w")));
    EXPECT_EQ(std::vector<float>(p, p + 5), values);
  }
  fs::remove(path);
}

// Released pages of a mapped file read back the same (they come from the file again),
// and releasing ranges outside the mapping or of an in-memory file does nothing.
TEST(GgufRoundTrip, ReleasedPagesReadBackTheSame) {
  std::vector<float> values(3 * 4096);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i) * 0.25f - 7.0f;
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_tensor("w", GgmlType::F32, {static_cast<int64_t>(values.size())},
               std::span(reinterpret_cast<const uint8_t*>(values.data()), values.size() * sizeof(float)));
  fs::path path = fs::temp_directory_path() / ("entropix_gguf_release_" + std::to_string(::getpid()) + ".gguf");
  w.write(path.string());
  {
    auto f = GgufFile::open(path.string());
    const auto bytes = f->tensor_bytes(*f->find_tensor("w"));
    const float* p = reinterpret_cast<const float*>(bytes.data());
    ASSERT_EQ(std::vector<float>(p, p + values.size()), values);
    f->release_pages(bytes.data() + 100, bytes.size() - 200);
    f->release_pages(bytes.data(), f->file_size() * 2);  // past the end: ignored
    f->release_pages(reinterpret_cast<const uint8_t*>(values.data()), 16);  // not the mapping: ignored
    EXPECT_EQ(std::vector<float>(p, p + values.size()), values);
    f->release_pages(bytes.data(), bytes.size());
    EXPECT_EQ(std::vector<float>(p, p + values.size()), values);
  }
  fs::remove(path);
  const std::vector<uint8_t> in_memory = w.to_bytes();
  auto m = GgufFile::from_bytes(in_memory);
  const auto bytes = m->tensor_bytes(*m->find_tensor("w"));
  m->release_pages(bytes.data(), bytes.size());
  EXPECT_EQ(0, std::memcmp(bytes.data(), values.data(), bytes.size()));
}

// The writer's bytes are exactly what the spec prescribes, checked against a file
// assembled by hand: header, kv, tensor infos, zero padding, aligned data, each
// tensor zero-padded to the alignment (the last one too).
TEST(GgufWriter, LayoutMatchesSpecByteForByte) {
  GgufWriter w;
  w.add_u32("a", 7);
  w.add_string("b", "xy");
  w.add_tensor("t0", GgmlType::F32, {3}, pattern(12, 1));
  w.add_tensor("t1", GgmlType::F16, {2, 2}, pattern(8, 2));

  Raw r;
  r.header(3, 2, 2).kv_u32("a", 7).kv_string("b", "xy");
  r.tensor("t0", {3}, 0, 0).tensor("t1", {2, 2}, 1, 32);
  r.pad(32);
  std::vector<uint8_t> t0 = pattern(12, 1), t1 = pattern(8, 2);
  r.b.insert(r.b.end(), t0.begin(), t0.end());
  r.pad(32);
  r.b.insert(r.b.end(), t1.begin(), t1.end());
  r.pad(32);
  EXPECT_EQ(w.to_bytes(), r.b);
}

// A deferred tensor's bytes are made while the file is written, in file order, and land
// where an ordinary tensor's would; a wrong size from its maker is an error, not a file.
TEST(GgufWriter, DeferredTensorsWriteTheSameBytes) {
  GgufWriter plain, deferred;
  std::vector<std::string> made;
  for (GgufWriter* w : {&plain, &deferred}) w->add_u32("a", 7);
  plain.add_tensor("t0", GgmlType::F32, {3}, pattern(12, 1));
  plain.add_tensor("t1", GgmlType::F16, {2, 2}, pattern(8, 2));
  deferred.add_tensor_deferred("t0", GgmlType::F32, {3}, [&] {
    made.push_back("t0");
    return pattern(12, 1);
  });
  deferred.add_tensor("t1", GgmlType::F16, {2, 2}, pattern(8, 2));
  EXPECT_TRUE(made.empty());  // nothing is made before the file is written
  EXPECT_EQ(deferred.to_bytes(), plain.to_bytes());
  EXPECT_EQ(made, std::vector<std::string>{"t0"});

  GgufWriter wrong;
  wrong.add_tensor_deferred("t", GgmlType::F32, {4}, [] { return pattern(12, 0); });
  EXPECT_THROW(wrong.to_bytes(), Error);
  EXPECT_THROW(wrong.add_tensor_deferred("t", GgmlType::F32, {4}, [] { return pattern(16, 0); }), Error);  // duplicate
}

TEST(GgufWriter, AlignmentKeySetsAlignment) {
  GgufWriter w;
  w.add_u32("general.alignment", 16);
  EXPECT_EQ(w.alignment(), 16u);
  w.add_tensor("t", GgmlType::I8, {3}, pattern(3, 0));
  w.add_tensor("u", GgmlType::I8, {3}, pattern(3, 1));
  auto f = GgufFile::from_bytes(w.to_bytes());
  EXPECT_EQ(f->alignment(), 16u);
  EXPECT_EQ(f->find_tensor("u")->offset, 16u);
}

TEST(GgufWriter, RejectsInvalidInput) {
  EXPECT_THROW(GgufWriter(0), Error);
  EXPECT_THROW(GgufWriter(24), Error);
  GgufWriter w;
  w.add_u32("k", 1);
  EXPECT_THROW(w.add_string("k", "again"), Error);
  EXPECT_THROW(w.add_u32("", 1), Error);
  EXPECT_THROW(w.add_u64("general.alignment", 64), Error);  // spec: u32
  EXPECT_THROW(w.add_u32("general.alignment", 3), Error);
  const std::span<const uint8_t> none;
  EXPECT_THROW(w.add_tensor("t", GgmlType::F32, {}, none), Error);
  EXPECT_THROW(w.add_tensor("t", GgmlType::F32, {1, 1, 1, 1, 1}, pattern(4, 0)), Error);
  EXPECT_THROW(w.add_tensor("t", GgmlType::F32, {0}, none), Error);
  EXPECT_THROW(w.add_tensor("t", GgmlType::Q8_0, {16}, pattern(17, 0)), Error);  // not a whole block
  EXPECT_THROW(w.add_tensor("t", GgmlType::F32, {2}, pattern(7, 0)), Error);      // wrong byte count
  EXPECT_THROW(w.add_tensor("t", static_cast<GgmlType>(4), {2}, pattern(8, 0)), Error);
  EXPECT_THROW(w.add_tensor(std::string(64, 'n'), GgmlType::F32, {1}, pattern(4, 0)), Error);
  w.add_tensor("t", GgmlType::F32, {2}, pattern(8, 0));
  EXPECT_THROW(w.add_tensor("t", GgmlType::F32, {2}, pattern(8, 0)), Error);
  EXPECT_EQ(w.tensor_count(), 1u);
  EXPECT_EQ(w.metadata_count(), 1u);
  try {
    w.add_tensor("q", GgmlType::F32, {2, 3}, pattern(20, 0));
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected 24 bytes"), std::string::npos) << e.what();
  }
  EXPECT_THROW(w.write("/nonexistent-dir/x.gguf"), Error);
}

TEST(GgufReader, AcceptsVersion2) {
  Raw r;
  r.header(2, 0, 1).kv_u32("general.x", 5);
  auto f = GgufFile::from_bytes(r.b);
  EXPECT_EQ(f->version(), 2u);
  EXPECT_EQ(f->get_u32("general.x"), 5u);
  EXPECT_EQ(f->alignment(), 32u);
}

// ------------------------------------------------------------ typed getters

class GgufGetters : public ::testing::Test {
 protected:
  void SetUp() override {
    GgufWriter w;
    w.add_u8("u8", 7);
    w.add_i32("neg", -5);
    w.add_u64("big", 1ull << 40);
    w.add_u64("huge", std::numeric_limits<uint64_t>::max());
    w.add_f32("f", 2.5f);
    w.add_bool("flag", true);
    w.add_string("name", "llama");
    w.add_i32_array("ints", std::vector<int32_t>{1, 2});
    w.add_u64_array("bigs", std::vector<uint64_t>{std::numeric_limits<uint64_t>::max()});
    w.add_string_array("strs", std::vector<std::string>{"a"});
    w.add_bool_array("bools", {true});
    f = GgufFile::from_bytes(w.to_bytes(), "getters.gguf");
  }
  std::string error_of(const std::function<void()>& fn) {
    try {
      fn();
    } catch (const Error& e) {
      return e.what();
    }
    return "<no error>";
  }
  std::unique_ptr<GgufFile> f;
};

TEST_F(GgufGetters, IntegersConvertWhenTheValueFits) {
  EXPECT_EQ(f->get_u64("u8"), 7u);
  EXPECT_EQ(f->get_u32("u8"), 7u);
  EXPECT_EQ(f->get_i64("u8", 0), 7);
  EXPECT_EQ(f->get_i64("neg", 0), -5);
  EXPECT_EQ(f->get_u64("big"), 1ull << 40);
  EXPECT_THROW(f->get_u32("big"), Error);       // does not fit in u32
  EXPECT_THROW(f->get_u32("neg"), Error);       // negative
  EXPECT_THROW(f->get_u64("neg"), Error);
  EXPECT_THROW(f->get_i64("huge", 0), Error);   // above INT64_MAX
  EXPECT_THROW(f->get_u32("f"), Error);         // floats are not integers
  EXPECT_THROW(f->get_u32("flag"), Error);      // neither are bools
}

TEST_F(GgufGetters, FloatsAcceptIntegers) {
  EXPECT_EQ(f->get_f64("f"), 2.5);
  EXPECT_EQ(f->get_f64("neg"), -5.0);
  EXPECT_EQ(f->get_f64("u8"), 7.0);
  EXPECT_THROW(f->get_f64("name"), Error);
  EXPECT_THROW(f->get_f64("flag"), Error);
}

TEST_F(GgufGetters, FallbacksOnlyForAbsentKeys) {
  EXPECT_EQ(f->get_u32("absent", 9), 9u);
  EXPECT_EQ(f->get_u64("absent", 9), 9u);
  EXPECT_EQ(f->get_i64("absent", -9), -9);
  EXPECT_EQ(f->get_f64("absent", 0.5), 0.5);
  EXPECT_EQ(f->get_string("absent", "dflt"), "dflt");
  EXPECT_TRUE(f->get_bool("absent", true));
  EXPECT_EQ(f->get_string("name", "dflt"), "llama");
  EXPECT_THROW(f->get_u32("name", 9), Error);  // present with the wrong type is still an error
  EXPECT_THROW(f->get_bool("u8", false), Error);
  EXPECT_THROW(f->get_string("u8", "x"), Error);
  EXPECT_THROW(f->get_u32("absent"), Error);
  EXPECT_THROW(f->get_string("absent"), Error);
  EXPECT_THROW(f->get_f64("absent"), Error);
  EXPECT_THROW(f->get_string_array("absent"), Error);
  EXPECT_FALSE(f->has("absent"));
  EXPECT_TRUE(f->has("name"));
}

TEST_F(GgufGetters, ArraysCheckElementType) {
  EXPECT_EQ(f->get_i64_array("ints"), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(f->get_string_array("strs"), std::vector<std::string>{"a"});
  EXPECT_THROW(f->get_string_array("ints"), Error);
  EXPECT_THROW(f->get_i64_array("strs"), Error);
  EXPECT_THROW(f->get_f64_array("strs"), Error);
  EXPECT_THROW(f->get_i64_array("bools"), Error);
  EXPECT_THROW(f->get_f64_array("bools"), Error);
  EXPECT_THROW(f->get_i64_array("bigs"), Error);  // element above INT64_MAX
  EXPECT_THROW(f->get_i64_array("u8"), Error);    // a scalar is not an array
  EXPECT_THROW(f->get_string("strs"), Error);
}

TEST_F(GgufGetters, ErrorNamesFileKeyExpectedAndFound) {
  std::string msg = error_of([&] { f->get_string("u8"); });
  EXPECT_NE(msg.find("getters.gguf"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'u8'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected string"), std::string::npos) << msg;
  EXPECT_NE(msg.find("found u8"), std::string::npos) << msg;
  msg = error_of([&] { f->get_string_array("ints"); });
  EXPECT_NE(msg.find("found array of i32"), std::string::npos) << msg;
  msg = error_of([&] { f->get_u32("big"); });
  EXPECT_NE(msg.find("1099511627776"), std::string::npos) << msg;
  msg = error_of([&] { f->get_u32("absent"); });
  EXPECT_NE(msg.find("no such key"), std::string::npos) << msg;
}

// ------------------------------------------------------------ real files

TEST(GgufRealFiles, Stories260K) {
  ENTROPIX_REQUIRE_TESTDATA();
  fs::path path = testing::testdata_dir() / "models" / "stories260K.gguf";
  auto f = GgufFile::open(path.string());
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->alignment(), 32u);
  EXPECT_EQ(f->get_string("general.architecture"), "llama");
  EXPECT_EQ(f->get_u32("llama.context_length"), 2048u);
  EXPECT_EQ(f->get_u32("llama.embedding_length"), 64u);
  EXPECT_EQ(f->get_u32("llama.block_count"), 5u);
  EXPECT_EQ(f->get_u32("llama.attention.head_count"), 8u);
  EXPECT_EQ(f->get_u32("llama.attention.head_count_kv"), 4u);
  EXPECT_FLOAT_EQ(static_cast<float>(f->get_f64("llama.attention.layer_norm_rms_epsilon")), 1e-5f);
  EXPECT_EQ(f->get_string("tokenizer.ggml.model"), "llama");
  const auto& tokens = f->get_string_array("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.size(), 512u);
  EXPECT_EQ(tokens[0], "<unk>");
  EXPECT_EQ(tokens[1], "<s>");
  EXPECT_EQ(f->get_f64_array("tokenizer.ggml.scores").size(), 512u);
  EXPECT_EQ(f->get_i64_array("tokenizer.ggml.token_type").size(), 512u);
  EXPECT_EQ(f->get_u32("tokenizer.ggml.bos_token_id"), 1u);

  EXPECT_EQ(f->tensors().size(), 48u);  // 3 + 9 per block * 5 blocks
  const GgufTensorInfo* emb = f->find_tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->type, GgmlType::F32);
  EXPECT_EQ(emb->n_dims, 2);
  EXPECT_EQ(emb->ne[0], 64);
  EXPECT_EQ(emb->ne[1], 512);
  EXPECT_EQ(emb->nbytes, 64u * 512u * 4u);
  float first[2];
  std::memcpy(first, f->tensor_data(*emb), sizeof(first));
  EXPECT_FLOAT_EQ(first[0], -0.29474878f);
  EXPECT_FLOAT_EQ(first[1], 0.56189561f);
  // Tensors are packed: the last one ends exactly at the end of the file.
  const GgufTensorInfo& last = f->tensors().back();
  EXPECT_EQ(f->data_offset() + last.offset + last.nbytes, f->file_size());

  // The same bytes parsed from memory give the same directory and data.
  std::string raw = testing::read_file(path);
  auto m = GgufFile::from_bytes(std::span(reinterpret_cast<const uint8_t*>(raw.data()), raw.size()));
  ASSERT_EQ(m->tensors().size(), f->tensors().size());
  for (size_t i = 0; i < f->tensors().size(); ++i) {
    const auto& a = f->tensors()[i];
    const auto& b = m->tensors()[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.offset, b.offset);
    EXPECT_EQ(std::memcmp(f->tensor_data(a), m->tensor_data(b), a.nbytes), 0) << a.name;
  }
}

TEST(GgufRealFiles, EveryVocabularyLoads) {
  ENTROPIX_REQUIRE_TESTDATA();
  int n = 0;
  for (const auto& entry : fs::directory_iterator(testing::testdata_dir() / "vocab")) {
    if (entry.path().extension() != ".gguf") continue;
    SCOPED_TRACE(entry.path().string());
    auto f = GgufFile::open(entry.path().string());
    EXPECT_TRUE(f->version() == 2 || f->version() == 3);
    EXPECT_FALSE(f->get_string("general.architecture").empty());
    EXPECT_FALSE(f->get_string("tokenizer.ggml.model").empty());
    const auto& tokens = f->get_string_array("tokenizer.ggml.tokens");
    EXPECT_GT(tokens.size(), 1000u);
    if (f->has("tokenizer.ggml.token_type")) {
      EXPECT_EQ(f->get_i64_array("tokenizer.ggml.token_type").size(), tokens.size());
    }
    ++n;
  }
  EXPECT_GE(n, 9);
}

TEST(GgufReader, OpenReportsMissingFileAndEmptyFile) {
  EXPECT_THROW(GgufFile::open("/nonexistent/model.gguf"), Error);
  EXPECT_THROW(GgufFile::open(fs::temp_directory_path().string()), Error);
  fs::path path = fs::temp_directory_path() / ("entropix_gguf_empty_" + std::to_string(::getpid()) + ".gguf");
  { std::ofstream(path.string()); }
  EXPECT_THROW(GgufFile::open(path.string()), Error);
  fs::remove(path);
}

// ------------------------------------------------------------ hostile input

// A small valid file using every metadata type and several tensors, whose last
// tensor ends exactly at the end of the file (no trailing padding), so every
// strict prefix lacks something the reader needs.
std::vector<uint8_t> small_valid_file() {
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_u8("a.u8", 1);
  w.add_i8("a.i8", -1);
  w.add_u16("a.u16", 2);
  w.add_i16("a.i16", -2);
  w.add_u32("a.u32", 3);
  w.add_i32("a.i32", -3);
  w.add_u64("a.u64", 4);
  w.add_i64("a.i64", -4);
  w.add_f32("a.f32", 0.5f);
  w.add_f64("a.f64", 0.25);
  w.add_bool("a.bool", true);
  w.add_string_array("a.strs", std::vector<std::string>{"x", "yz"});
  w.add_i32_array("a.i32s", std::vector<int32_t>{5, 6});
  w.add_f32_array("a.f32s", std::vector<float>{1.0f});
  w.add_tensor("q", GgmlType::Q8_0, {32, 2}, pattern(68, 1));
  w.add_tensor("h", GgmlType::F16, {3}, pattern(6, 2));
  w.add_tensor("last", GgmlType::F32, {4, 2}, pattern(32, 3));
  return w.to_bytes();
}

TEST(GgufHostile, SmallValidFileParses) {
  std::vector<uint8_t> file = small_valid_file();
  auto f = GgufFile::from_bytes(file);
  EXPECT_EQ(f->metadata().size(), 15u);
  ASSERT_EQ(f->tensors().size(), 3u);
  const GgufTensorInfo& last = f->tensors().back();
  EXPECT_EQ(f->data_offset() + last.offset + last.nbytes, file.size());
}

TEST(GgufHostile, TruncationAtEveryByteThrows) {
  std::vector<uint8_t> file = small_valid_file();
  for (size_t n = 0; n < file.size(); ++n) {
    // A fresh allocation of exactly n bytes, so ASan sees any read past the end.
    std::vector<uint8_t> prefix(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(n));
    std::string msg = parse_error(prefix);
    EXPECT_NE(msg, "<no error>") << "prefix of " << n << " bytes parsed";
    EXPECT_NE(msg.find("bad.gguf"), std::string::npos) << msg;
  }
}

TEST(GgufHostile, FlippingEveryByteNeverCrashes) {
  // Each single-byte change must either parse or throw Error; the assertion is
  // the absence of crashes and of other exception types (sanitizers watch reads).
  std::vector<uint8_t> file = small_valid_file();
  int errors = 0;
  for (size_t i = 0; i < file.size(); ++i) {
    for (uint8_t v : {uint8_t{0x00}, uint8_t{0xff}, uint8_t{0x80}}) {
      std::vector<uint8_t> bad = file;
      if (bad[i] == v) continue;
      bad[i] = v;
      try {
        auto f = GgufFile::from_bytes(bad);
        for (const auto& t : f->tensors()) ASSERT_EQ(f->tensor_bytes(t).size(), t.nbytes);
      } catch (const Error&) {
        ++errors;
      }
    }
  }
  EXPECT_GT(errors, 100);  // the header and directory bytes are mostly load-bearing
}

// Crafted bad files: each with the substring its error must contain. The same
// list regenerates the committed regression files (see RegenerateRegressionFiles).
struct BadCase {
  std::string name;
  std::vector<uint8_t> bytes;
  std::string expected;
};

std::vector<BadCase> bad_cases() {
  std::vector<BadCase> cases;
  auto add = [&](std::string name, const Raw& r, std::string expected) {
    cases.push_back({std::move(name), r.b, std::move(expected)});
  };
  {
    Raw r;
    r.b = {'G', 'G', 'M', 'L'};
    r.u32(3).u64(0).u64(0);
    add("bad_magic", r, "bad magic: expected \"GGUF\", found \"GGML\"");
  }
  add("version1", Raw().header(1, 0, 0), "version 1 is not supported");
  add("version4", Raw().header(4, 0, 0), "unsupported GGUF version 4");
  add("huge_tensor_count", Raw().header(3, 1ull << 60, 0), "tensor count 1152921504606846976");
  add("huge_kv_count", Raw().header(3, 0, ~0ull).kv_u32("a", 1), "metadata count 18446744073709551615");
  {
    Raw r;
    r.header(3, 0, 1).str("k").u32(8).u64(1ull << 62);
    r.zeros(8);
    add("huge_string_length", r, "string value length 4611686018427387904 exceeds");
  }
  {
    Raw r;
    r.header(3, 0, 1).str("k").u32(9).u32(4).u64(1ull << 61);
    r.zeros(16);
    add("huge_array_length", r, "array of 2305843009213693952 u32 elements");
  }
  {
    Raw r;
    r.header(3, 0, 1).str("k").u32(9).u32(9).u64(1).u32(4).u64(0);
    add("nested_array", r, "nested arrays are not supported");
  }
  add("unknown_value_type", Raw().header(3, 0, 1).str("k").u32(13).u64(0), "unknown value type 13");
  add("duplicate_key", Raw().header(3, 0, 2).kv_u32("k", 1).kv_u32("k", 2), "duplicate metadata key 'k'");
  add("alignment_not_pow2", Raw().header(3, 0, 1).kv_u32("general.alignment", 48),
      "'general.alignment': expected a nonzero power of two");
  add("alignment_zero", Raw().header(3, 0, 1).kv_u32("general.alignment", 0),
      "'general.alignment': expected a nonzero power of two");
  add("alignment_string", Raw().header(3, 0, 1).kv_string("general.alignment", "32"),
      "'general.alignment': expected u32, found string");
  {
    Raw r;
    r.header(3, 0, 1).str("k").u32(7).put<uint8_t>(2);
    add("bool_value_2", r, "bool value must be 0 or 1, found 2");
  }
  auto one_tensor = [&](std::string name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset,
                        size_t data_bytes, std::string expected) {
    Raw r;
    r.header(3, 1, 0).tensor("w", std::move(ne), type, offset).pad(32).zeros(data_bytes);
    add(std::move(name), r, std::move(expected));
  };
  {
    Raw r;
    r.header(3, 1, 0).str("w").u32(0).u32(0).u64(0).zeros(32);
    add("ndims0", r, "tensor 'w': expected n_dims 1..4, found 0");
  }
  one_tensor("ndims5", {1, 1, 1, 1, 1}, 0, 0, 32, "tensor 'w': expected n_dims 1..4, found 5");
  one_tensor("dim_zero", {4, 0}, 0, 0, 32, "tensor 'w': dimension 1 must be >= 1, found 0");
  one_tensor("unknown_tensor_type", {4}, 4, 0, 32, "tensor 'w': unknown tensor type 4");
  one_tensor("unknown_tensor_type_big", {4}, 1000, 0, 32, "tensor 'w': unknown tensor type 1000");
  one_tensor("overflowing_dims", {1ull << 32, 1ull << 32}, 0, 0, 32, "tensor 'w': element count overflows");
  one_tensor("overflowing_bytes", {1ull << 62}, 0, 0, 32, "tensor 'w': byte size overflows");
  one_tensor("row_not_whole_blocks", {16}, 8, 0, 64, "row length 16 is not a multiple of the q8_0 block size 32");
  one_tensor("misaligned_offset", {4}, 0, 4, 64, "tensor 'w': data offset 4 is not a multiple of the alignment 32");
  one_tensor("offset_out_of_range", {4}, 0, 64, 32, "extends past the end of the file");
  one_tensor("offset_overflow", {4}, 0, ~0ull - 31, 32, "extends past the end of the file");
  {
    Raw r;
    r.header(3, 2, 0).tensor("w", {4}, 0, 0).tensor("w", {4}, 0, 32).pad(32).zeros(64);
    add("duplicate_tensor", r, "duplicate tensor name 'w'");
  }
  return cases;
}

TEST(GgufHostile, CraftedBadFilesFailWithTheExpectedMessage) {
  for (const BadCase& c : bad_cases()) {
    SCOPED_TRACE(c.name);
    EXPECT_PARSE_ERROR(c.bytes, c.expected);
    EXPECT_PARSE_ERROR(c.bytes, "bad.gguf");
  }
}

TEST(GgufHostile, ErrorsNameTheOffset) {
  // n_dims sits after the header (24 bytes) and the name (8 + 1 bytes).
  Raw r;
  r.header(3, 1, 0).str("w").u32(5).zeros(32);
  EXPECT_PARSE_ERROR(r.b, "offset 33: tensor 'w': expected n_dims 1..4, found 5");
  // A truncated value names its key: the u32 starts after header, key (9) and type (4).
  Raw t;
  t.header(3, 0, 1).str("k").u32(4).put<uint16_t>(1);
  EXPECT_PARSE_ERROR(t.b, "offset 37: key 'k': truncated u32 value: expected 4 bytes, found 2");
  Raw a;
  a.header(3, 0, 2).kv_u32("x", 1).kv_u32("general.alignment", 3);
  EXPECT_PARSE_ERROR(a.b, "offset 41: key 'general.alignment': expected a nonzero power of two");
  EXPECT_PARSE_ERROR(Raw().header(3, 0, 0).b, "<no error>");  // an empty GGUF is valid
}

// Expected error substrings of the committed regression files, one
// "<file>|<substring>" per line (tests/data/gguf/expected_errors.txt).
std::vector<std::pair<std::string, std::string>> regression_manifest() {
  std::ifstream in(testing::source_dir() / "tests" / "data" / "gguf" / "expected_errors.txt");
  std::vector<std::pair<std::string, std::string>> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t bar = line.find('|');
    if (bar == std::string::npos) continue;
    out.emplace_back(line.substr(0, bar), line.substr(bar + 1));
  }
  return out;
}

TEST(GgufRegression, CommittedBadFilesFailAsExpected) {
  auto manifest = regression_manifest();
  ASSERT_GE(manifest.size(), 10u) << "tests/data/gguf/expected_errors.txt missing or short";
  fs::path dir = testing::source_dir() / "tests" / "data" / "gguf";
  for (const auto& [file, expected] : manifest) {
    SCOPED_TRACE(file);
    ASSERT_TRUE(fs::exists(dir / file));
    std::string msg;
    try {
      GgufFile::open((dir / file).string());
      msg = "<no error>";
    } catch (const Error& e) {
      msg = e.what();
    }
    EXPECT_NE(msg.find(expected), std::string::npos) << "expected \"" << expected << "\", got: " << msg;
    EXPECT_NE(msg.find(file), std::string::npos) << "error should name the file: " << msg;
  }
}

TEST(GgufRegression, CommittedFilesMatchTheirGenerator) {
  fs::path dir = testing::source_dir() / "tests" / "data" / "gguf";
  auto manifest = regression_manifest();
  for (const BadCase& c : bad_cases()) {
    SCOPED_TRACE(c.name);
    std::string file = c.name + ".gguf";
    ASSERT_TRUE(fs::exists(dir / file)) << "run the DISABLED_RegenerateRegressionFiles test";
    std::string bytes = testing::read_file(dir / file);
    EXPECT_EQ(bytes, std::string(c.bytes.begin(), c.bytes.end()));
    bool listed = false;
    for (const auto& [name, expected] : manifest) listed |= (name == file && expected == c.expected);
    EXPECT_TRUE(listed) << file << " is not listed in expected_errors.txt with \"" << c.expected << "\"";
  }
}

// Rewrites tests/data/gguf/<case>.gguf and the generated part of
// expected_errors.txt; fuzz findings listed under "# fuzz" are kept. Run with
//   entropix_tests --gtest_also_run_disabled_tests --gtest_filter='*RegenerateRegressionFiles'
TEST(GgufRegression, DISABLED_RegenerateRegressionFiles) {
  fs::path dir = testing::source_dir() / "tests" / "data" / "gguf";
  fs::create_directories(dir);
  std::vector<std::string> kept;
  {
    std::ifstream in(dir / "expected_errors.txt");
    std::string line;
    bool fuzz = false;
    while (std::getline(in, line)) {
      if (line == "# fuzz") fuzz = true;
      else if (fuzz) kept.push_back(line);
    }
  }
  std::ofstream manifest(dir / "expected_errors.txt");
  manifest << "# Regression GGUF files: <file>|<substring the reader's error must contain>.\n"
              "# Generated by test_gguf's DISABLED_RegenerateRegressionFiles, except the fuzz findings below.\n";
  for (const BadCase& c : bad_cases()) {
    std::ofstream(dir / (c.name + ".gguf"), std::ios::binary)
        .write(reinterpret_cast<const char*>(c.bytes.data()), static_cast<std::streamsize>(c.bytes.size()));
    manifest << c.name << ".gguf|" << c.expected << "\n";
  }
  manifest << "# fuzz\n";
  for (const std::string& line : kept) manifest << line << "\n";
}

}  // namespace
}  // namespace entropix
