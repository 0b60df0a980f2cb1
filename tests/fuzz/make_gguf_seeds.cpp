// Writes the seed corpus for fuzz_gguf: small valid GGUF files that together use
// every metadata type, several tensor types and shapes, and two alignments.
// Usage: make_gguf_seeds <output dir>
#include <cstdio>
#include <string>
#include <vector>

#include "core/error.h"
#include "gguf/gguf_writer.h"

using entropix::GgmlType;
using entropix::GgufWriter;

namespace {

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
  return v;
}

void all_metadata(GgufWriter& w) {
  w.add_u8("t.u8", 200);
  w.add_i8("t.i8", -100);
  w.add_u16("t.u16", 60000);
  w.add_i16("t.i16", -30000);
  w.add_u32("t.u32", 4000000000u);
  w.add_i32("t.i32", -2000000000);
  w.add_u64("t.u64", 1ull << 63);
  w.add_i64("t.i64", -(1ll << 62));
  w.add_f32("t.f32", 0.5f);
  w.add_f64("t.f64", -2.25);
  w.add_bool("t.bool", true);
  w.add_string("t.string", "hello");
  std::vector<std::string> s = {"a", "", "ccc"};
  w.add_string_array("t.strings", s);
  std::vector<int32_t> i = {-1, 0, 7};
  w.add_i32_array("t.i32s", i);
  std::vector<float> f = {1.0f, -0.25f};
  w.add_f32_array("t.f32s", f);
  std::vector<uint8_t> u = {1, 2, 3};
  w.add_u8_array("t.u8s", u);
  w.add_bool_array("t.bools", {true, false});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <output dir>\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  try {
    GgufWriter empty;
    empty.write(dir + "/empty.gguf");

    GgufWriter meta;
    all_metadata(meta);
    meta.write(dir + "/metadata.gguf");

    GgufWriter tensors;
    tensors.add_string("general.architecture", "llama");
    tensors.add_tensor("a", GgmlType::F32, {3, 2}, pattern(24, 1));
    tensors.add_tensor("b", GgmlType::F16, {5}, pattern(10, 2));
    tensors.add_tensor("c", GgmlType::Q8_0, {32, 2}, pattern(68, 3));
    tensors.add_tensor("d", GgmlType::Q4_K, {256}, pattern(144, 4));
    tensors.add_tensor("e", GgmlType::I8, {2, 1, 3, 2}, pattern(12, 5));
    tensors.write(dir + "/tensors.gguf");

    GgufWriter aligned(8);
    all_metadata(aligned);
    aligned.add_tensor("x", GgmlType::BF16, {3}, pattern(6, 6));
    aligned.add_tensor("y", GgmlType::F32, {1, 1, 1}, pattern(4, 7));
    aligned.write(dir + "/aligned8.gguf");
  } catch (const entropix::Error& e) {
    std::fprintf(stderr, "make_gguf_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
