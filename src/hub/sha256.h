// SHA-256 (FIPS 180-4), streamed: feed bytes in any pieces, read the digest once.
// Used to check downloaded model files against the hub's LFS object id.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace entropix::hub {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, std::size_t size);
  void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }
  // Finishes the hash; the object must be reset() before further use.
  std::array<std::uint8_t, 32> digest();
  // The digest as 64 lowercase hex digits.
  std::string hex_digest();
  void reset();

 private:
  void compress(const std::uint8_t* block);

  std::array<std::uint32_t, 8> state_;   // H0..H7
  std::array<std::uint8_t, 64> buffer_;  // the pending partial block
  std::size_t buffered_ = 0;             // bytes used in buffer_
  std::uint64_t total_ = 0;              // message length so far, bytes
};

// Hex SHA-256 of a byte string.
std::string sha256_hex(std::string_view bytes);
// Hex SHA-256 of the first `limit` bytes of a file (all of it by default);
// throws Error naming the file if it cannot be read.
std::string sha256_file_hex(const std::filesystem::path& path, std::uint64_t limit = UINT64_MAX);

}  // namespace entropix::hub
