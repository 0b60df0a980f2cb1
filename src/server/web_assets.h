// The explorer's page (web/explorer), compiled into the binary by
// cmake/embed_files.cmake: every file by its name, as bytes.
#pragma once

#include <span>

namespace entropix::server {

struct WebAsset {
  const char* name;                     // the file's name in web/explorer, e.g. "app.js"
  std::span<const unsigned char> data;  // its bytes
};

std::span<const WebAsset> web_assets();

}  // namespace entropix::server
