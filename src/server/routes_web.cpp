// The explorer's page: GET / answers web/explorer/index.html, GET /ui/<file> the
// other files, from the copy compiled into the binary (server/web_assets.h) or,
// with a web folder given, read from there at each request (to work on the page
// without rebuilding). Nothing here is secret, so no API key is needed: the page
// asks for the key itself and sends it with its API calls.
#include <filesystem>
#include <optional>
#include <string>

#include "core/error.h"
#include "core/file_text.h"
#include "server/routes.h"
#include "server/web_assets.h"

namespace entropix::server {

namespace {

std::string content_type(const std::string& name) {
  const auto ends = [&](const char* ext) {
    const std::string e(ext);
    return name.size() >= e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js") || ends(".mjs")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".png")) return "image/png";
  if (ends(".json")) return "application/json";
  return "application/octet-stream";
}

// The file's bytes, or nullopt when there is none by that name.
std::optional<std::string> asset(const std::string& name, const std::string& web_dir) {
  if (!web_dir.empty()) {
    const std::filesystem::path path = std::filesystem::path(web_dir) / name;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) return std::nullopt;
    try {
      return read_file(path, "web file");
    } catch (const Error&) {
      return std::nullopt;
    }
  }
  for (const WebAsset& a : web_assets())
    if (name == a.name) return std::string(reinterpret_cast<const char*>(a.data.data()), a.data.size());
  return std::nullopt;
}

void send_asset(httplib::Response& res, const std::string& name, const std::string& web_dir) {
  const std::optional<std::string> body = asset(name, web_dir);
  if (!body) {
    send_json(res, 404,
              error_body(name == "index.html" ? "the explorer's page is not in this build (web/explorer was empty)"
                                              : "no file " + name + " in the explorer's page",
                         "invalid_request_error", "not_found"));
    return;
  }
  res.status = 200;
  // The page changes with the binary; a browser must not keep a stale copy of it.
  res.set_header("Cache-Control", "no-cache");
  res.set_content(*body, content_type(name));
}

}  // namespace

void register_web_routes(RouteTable& routes, const std::string& web_dir) {
  routes.get("/", [web_dir](const httplib::Request&, httplib::Response& res) { send_asset(res, "index.html", web_dir); });
  routes.get(R"(/ui/([A-Za-z0-9_.-]+))", [web_dir](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1].str();
    if (name.find("..") != std::string::npos) {  // never outside the folder
      send_json(res, 404, error_body("no file " + name, "invalid_request_error", "not_found"));
      return;
    }
    send_asset(res, name, web_dir);
  });
}

}  // namespace entropix::server
