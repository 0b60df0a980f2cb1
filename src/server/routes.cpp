#include "server/routes.h"

#include <algorithm>

#include "core/json_text.h"

namespace entropix::server {

void RouteTable::get(const std::string& path, httplib::Server::Handler handler) {
  paths_.push_back(path);
  http_.Get(path, std::move(handler));
}

void RouteTable::post(const std::string& path, httplib::Server::Handler handler) {
  paths_.push_back(path);
  http_.Post(path, std::move(handler));
}

std::string RouteTable::label(const std::string& path) const {
  return std::find(paths_.begin(), paths_.end(), path) != paths_.end() ? path : "other";
}

void send_json(httplib::Response& res, int status, const nlohmann::json& j) {
  res.status = status;
  res.set_content(json_text(j), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) {
  send_json(res, e.status(), error_body(e.what(), e.type(), e.code(), e.param()));
}

}  // namespace entropix::server
