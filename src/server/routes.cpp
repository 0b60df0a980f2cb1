#include "server/routes.h"

#include <algorithm>

#include "core/json_text.h"

namespace entropix::server {

void RouteTable::add(const std::string& path) {
  if (path.find_first_of("()[]\\*+?") == std::string::npos) {
    paths_.push_back(path);
    return;
  }
  // A readable label for a pattern: each group as {id} (digits) or {name}.
  std::string name;
  for (size_t i = 0; i < path.size();) {
    if (path[i] != '(') {
      name += path[i++];
      continue;
    }
    const size_t close = path.find(')', i);
    name += path.compare(i, close - i + 1, "(\\d+)") == 0 ? "{id}" : "{name}";
    i = close + 1;
  }
  patterns_.emplace_back(name, std::regex(path));
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
  for (const auto& [name, re] : patterns_)
    if (std::regex_match(path, re)) return name;
  return "other";
}

void send_json(httplib::Response& res, int status, const nlohmann::json& j) {
  res.status = status;
  res.set_content(json_text(j), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) {
  if (e.retry_after() > 0) res.set_header("Retry-After", std::to_string(e.retry_after()));
  send_json(res, e.status(), error_body(e.what(), e.type(), e.code(), e.param()));
}

}  // namespace entropix::server
