// The small HTTP client of the hub code (libcurl): GET a document, describe failures.
#pragma once

#include <atomic>
#include <string>

namespace entropix::hub {

struct HttpResponse {
  long status = 0;   // final status, after redirects
  std::string body;  // response body (error bodies included)
  std::string next;  // target of a `Link: <...>; rel="next"` header (paginated listings), or ""
};

// GET `url` following redirects, with `Authorization: Bearer token` when token is not
// empty. Returns any HTTP status; throws Error on transport failure or cancellation.
HttpResponse http_get(const std::string& url, const std::string& token,
                      const std::atomic<bool>* cancel = nullptr);

// Throws Error for an HTTP failure `status` while fetching `what` (e.g. "repository
// owner/repo") from `url`: 401/403 explain HF_TOKEN, 404 names `what`.
[[noreturn]] void throw_http_error(long status, const std::string& what, const std::string& url,
                                   bool sent_token);

// `path` with each '/'-separated segment percent-encoded.
std::string url_encode_path(const std::string& path);

// Calls curl_global_init once per process.
void ensure_curl_initialized();

}  // namespace entropix::hub
