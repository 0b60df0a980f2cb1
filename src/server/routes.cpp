#include "server/routes.h"

#include <algorithm>
#include <cctype>

#include "core/json_text.h"

namespace entropix::server {

namespace {

// Whether `path` fits a route's label: literal characters, {id} for one or more
// digits, {name} for one or more of [A-Za-z0-9_.-], {rest} for the rest of the path,
// at least a character (the groups routes use).
bool matches_label(const std::string& label, const std::string& path) {
  size_t p = 0;
  for (size_t l = 0; l < label.size();) {
    if (label.compare(l, 6, "{rest}") == 0) return p < path.size() && l + 6 == label.size();
    if (label[l] == '{') {
      const bool digits = label.compare(l, 4, "{id}") == 0;
      const size_t start = p;
      while (p < path.size() && (digits ? std::isdigit(static_cast<unsigned char>(path[p]))
                                        : std::isalnum(static_cast<unsigned char>(path[p])) || path[p] == '_' ||
                                              path[p] == '.' || path[p] == '-'))
        ++p;
      if (p == start) return false;
      l = label.find('}', l) + 1;
    } else if (p < path.size() && path[p] == label[l]) {
      ++p, ++l;
    } else {
      return false;
    }
  }
  return p == path.size();
}

}  // namespace

void RouteTable::add(const std::string& path) {
  if (path.find_first_of("()[]\\*+?") == std::string::npos) {
    paths_.push_back(path);
    return;
  }
  // A readable label for a pattern: each group as {id} (digits), {rest} (anything to the end) or {name}.
  std::string name;
  for (size_t i = 0; i < path.size();) {
    if (path[i] != '(') {
      name += path[i++];
      continue;
    }
    const size_t close = path.find(')', i);
    name += path.compare(i, close - i + 1, "(\\d+)") == 0 ? "{id}"
            : path.compare(i, close - i + 1, "(.+)") == 0 ? "{rest}"
                                                           : "{name}";
    i = close + 1;
  }
  patterns_.push_back(name);
}

void RouteTable::get(const std::string& path, httplib::Server::Handler handler) {
  add(path);
  http_.Get(path, std::move(handler));
}

void RouteTable::post(const std::string& path, httplib::Server::Handler handler) {
  add(path);
  http_.Post(path, std::move(handler));
}

void RouteTable::patch(const std::string& path, httplib::Server::Handler handler) {
  add(path);
  http_.Patch(path, std::move(handler));
}

void RouteTable::del(const std::string& path, httplib::Server::Handler handler) {
  add(path);
  http_.Delete(path, std::move(handler));
}

std::string RouteTable::label(const std::string& path) const {
  if (std::find(paths_.begin(), paths_.end(), path) != paths_.end()) return path;
  for (const std::string& name : patterns_)
    if (matches_label(name, path)) return name;
  return "other";
}

void send_json(httplib::Response& res, int status, const nlohmann::json& j) {
  res.status = status;
  // With the charset named, httplib leaves the body uncompressed: for a browser it
  // would use Brotli at its slowest setting (about 1 MB/s, a 12 MB session 19 s).
  res.set_content(json_text(j), kJsonContentType);
}

void send_error(httplib::Response& res, const ApiError& e) {
  if (e.retry_after() > 0) res.set_header("Retry-After", std::to_string(e.retry_after()));
  send_json(res, e.status(), error_body(e.what(), e.type(), e.code(), e.param()));
}

}  // namespace entropix::server
