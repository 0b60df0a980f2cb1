#include "cli/cache_type_flag.h"

#include <algorithm>
#include <cctype>
#include <string>

namespace entropix {

void add_cache_type_flag(CLI::App& cmd, KvType& type) {
  cmd.add_option_function<std::string>(
         "--cache-type",
         [&type](std::string name) {
           std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
           type = parse_kv_type(name);
         },
         "How the KV cache stores keys and values: f16 (half the memory and reads of f32), q8_0 (about half "
         "of f16's; head sizes in multiples of 32) or f32")
      ->check(CLI::IsMember({"f16", "f32", "q8_0"}, CLI::ignore_case))
      ->type_name("f16|f32|q8_0")
      ->default_str("f16");
}

}  // namespace entropix
