// libFuzzer target for the GGUF reader: parse arbitrary bytes, then read every
// metadata value through every getter and every byte of every tensor. Only
// entropix::Error may escape the reader; anything else (a crash, a sanitizer
// report, another exception type) is a finding.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "core/error.h"
#include "gguf/gguf.h"

namespace {

template <typename F>
void attempt(F&& f) {
  try {
    f();
  } catch (const entropix::Error&) {
  }
}

void touch_metadata(const entropix::GgufFile& f) {
  volatile size_t sink = 0;
  for (const auto& kv : f.metadata()) {
    const std::string& key = kv.first;  // a plain name: clang 14 lambdas cannot capture bindings
    sink = sink + kv.second.array_size() + entropix::gguf_type_name(kv.second.type).size();
    attempt([&] { sink = sink + f.get_string(key).size(); });
    attempt([&] { sink = sink + f.get_u64(key); });
    attempt([&] { sink = sink + f.get_u32(key); });
    attempt([&] { sink = sink + static_cast<size_t>(f.get_i64(key, 0)); });
    attempt([&] { sink = sink + static_cast<size_t>(f.get_f64(key) != 0.0); });
    attempt([&] { sink = sink + f.get_bool(key, false); });
    attempt([&] {
      for (const auto& s : f.get_string_array(key)) sink = sink + s.size();
    });
    attempt([&] { sink = sink + f.get_f64_array(key).size(); });
    attempt([&] { sink = sink + f.get_i64_array(key).size(); });
  }
}

void touch_tensors(const entropix::GgufFile& f) {
  volatile uint8_t sink = 0;
  for (const auto& t : f.tensors()) {
    if (f.find_tensor(t.name) != &t) __builtin_trap();  // the index must agree with the list
    std::span<const uint8_t> bytes = f.tensor_bytes(t);
    uint8_t acc = 0;
    for (uint8_t b : bytes) acc ^= b;
    sink = sink ^ acc;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto f = entropix::GgufFile::from_bytes(std::span<const uint8_t>(data, size), "fuzz");
    touch_metadata(*f);
    touch_tensors(*f);
  } catch (const entropix::Error&) {
  }
  return 0;
}
