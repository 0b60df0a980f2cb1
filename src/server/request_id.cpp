#include "server/request_id.h"

#include <cstdint>
#include <cstdio>
#include <random>

namespace entropix::server {

std::string sanitized_request_id(std::string_view sent) {
  std::string out;
  for (char c : sent) {
    if (out.size() == kMaxRequestIdBytes) break;
    if (c > ' ' && c < 0x7f) out += c;
  }
  return out;
}

std::string new_request_id() {
  // Seeded once per thread from the system: ids from different threads and runs do not repeat.
  thread_local std::mt19937_64 rng{(static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}()};
  char hex[33];
  std::snprintf(hex, sizeof hex, "%016llx%016llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return std::string("req_") + hex;
}

std::string request_id(std::string_view x_request_id, std::string_view x_client_request_id) {
  for (std::string_view sent : {x_request_id, x_client_request_id})
    if (std::string id = sanitized_request_id(sent); !id.empty()) return id;
  return new_request_id();
}

}  // namespace entropix::server
