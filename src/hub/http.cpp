#include "hub/http.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <strings.h>

#include <memory>
#include <mutex>

#include "core/error.h"

namespace entropix::hub {
namespace {

std::size_t append_body(char* data, std::size_t size, std::size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

// Keeps the rel="next" target of Link headers, as the hub paginates file trees.
std::size_t keep_next_link(char* data, std::size_t size, std::size_t count, void* user) {
  auto* next = static_cast<std::string*>(user);
  const std::string line(data, size * count);
  if (line.starts_with("HTTP/")) next->clear();  // a new response (after a redirect)
  if (line.size() > 5 && strncasecmp(line.c_str(), "link:", 5) == 0) {
    // Link: <https://hub/api/...&cursor=...>; rel="next", <...>; rel="prev"
    for (std::size_t at = line.find('<'); at != std::string::npos; at = line.find('<', at + 1)) {
      const auto close = line.find('>', at);
      if (close == std::string::npos) break;
      const auto comma = line.find(',', close);
      const std::string params =
          line.substr(close + 1, comma == std::string::npos ? std::string::npos : comma - close - 1);
      if (params.find("rel=\"next\"") != std::string::npos || params.find("rel=next") != std::string::npos)
        *next = line.substr(at + 1, close - at - 1);
    }
  }
  return size * count;
}

int check_cancel(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* cancel = static_cast<const std::atomic<bool>*>(user);
  return cancel && cancel->load() ? 1 : 0;
}

}  // namespace

void ensure_curl_initialized() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw Error("libcurl failed to initialize");
  });
}

HttpResponse http_get(const std::string& url, const std::string& token, const std::atomic<bool>* cancel) {
  ensure_curl_initialized();
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) throw Error("libcurl could not create a handle");
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(nullptr, curl_slist_free_all);
  if (!token.empty()) headers.reset(curl_slist_append(nullptr, ("Authorization: Bearer " + token).c_str()));
  HttpResponse response;
  char error[CURL_ERROR_SIZE] = {};
  CURL* h = curl.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "entropix");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, keep_next_link);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &response.next);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, check_cancel);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, cancel);
  const CURLcode rc = curl_easy_perform(h);
  if (rc == CURLE_ABORTED_BY_CALLBACK) throw Error(fmt::format("interrupted while fetching {}", url));
  if (rc != CURLE_OK)
    throw Error(fmt::format("cannot fetch {}: {}", url, error[0] ? error : curl_easy_strerror(rc)));
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

void throw_http_error(long status, const std::string& what, const std::string& url, bool sent_token) {
  if (status == 401 || status == 403)
    throw Error(fmt::format(
        "access to {} denied (HTTP {} from {}): {}", what, status, url,
        sent_token ? "the token in HF_TOKEN was refused; check that it is valid and has access to this "
                     "repository (gated models need their license accepted on the hub)"
                   : "the repository may be private or gated; set HF_TOKEN to a Hugging Face access token"));
  if (status == 404) throw Error(fmt::format("{} not found (HTTP 404 from {})", what, url));
  throw Error(fmt::format("fetching {} failed: expected HTTP 200, found HTTP {} from {}", what, status, url));
}

std::string url_encode_path(const std::string& path) {
  ensure_curl_initialized();
  std::string out;
  std::size_t start = 0;
  while (true) {
    const auto slash = path.find('/', start);
    const std::string part =
        path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    char* escaped = curl_easy_escape(nullptr, part.data(), int(part.size()));
    if (!escaped) throw Error("libcurl could not percent-encode '" + part + "'");
    out += escaped;
    curl_free(escaped);
    if (slash == std::string::npos) break;
    out += '/';
    start = slash + 1;
  }
  return out;
}

}  // namespace entropix::hub
