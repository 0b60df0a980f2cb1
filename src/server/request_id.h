// The x-request-id every response carries, so that a client's log line and the
// server's can be matched: the one the client sent (X-Request-Id, else
// x-client-request-id, as OpenAI's SDKs send it), made safe to echo, else a new one.
#pragma once

#include <string>
#include <string_view>

namespace entropix::server {

inline constexpr size_t kMaxRequestIdBytes = 128;

// A client's id as it may be echoed in a header: printable ASCII without spaces
// (no CR or LF to split the header), at most kMaxRequestIdBytes; "" when nothing is left.
std::string sanitized_request_id(std::string_view sent);
// "req_" and 32 random hex digits.
std::string new_request_id();
// The id for a request: the first of `sent` that survives sanitizing, else a new one.
std::string request_id(std::string_view x_request_id, std::string_view x_client_request_id);

}  // namespace entropix::server
