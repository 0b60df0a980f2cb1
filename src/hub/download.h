// Resumable download of one file into a `.part` file, hashed with SHA-256 as it arrives.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace entropix::hub {

struct DownloadRequest {
  std::string url;                            // followed through redirects
  std::string token;                          // sent as a Bearer token when not empty
  std::filesystem::path part;                 // the partial file; its bytes are resumed with a Range request
  std::optional<std::uint64_t> size;          // expected total bytes, when known
  std::string label;                          // the file, as named in progress and errors
  bool progress = true;                       // report on stderr
  const std::atomic<bool>* cancel = nullptr;  // polled; true stops the transfer, keeping the .part
  std::function<void(std::uint64_t, std::optional<std::uint64_t>)> on_bytes;  // bytes present, total
};

struct DownloadResult {
  std::uint64_t size = 0;          // bytes in the .part
  std::string sha256;              // hex SHA-256 of those bytes
  std::uint64_t resumed_from = 0;  // bytes kept from an earlier attempt
};

// Completes request.part (locked against a concurrent download of the same file) and
// returns its size and hash; the caller verifies and renames it. A server answering a
// Range request with 200 restarts the file from byte 0. Throws Error on failure (HTTP
// status, network, interruption) with the .part kept for the next attempt.
DownloadResult download_resumable(const DownloadRequest& request);

}  // namespace entropix::hub
