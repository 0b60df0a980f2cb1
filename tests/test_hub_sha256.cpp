// SHA-256 against the FIPS 180-2 test vectors, streamed in any piece sizes, and on files.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "core/error.h"
#include "hub/sha256.h"

using entropix::hub::Sha256;
using entropix::hub::sha256_file_hex;
using entropix::hub::sha256_hex;

TEST(HubSha256, Fips180_2OneBlock) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(HubSha256, Fips180_2MultiBlock) {
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(HubSha256, Fips180_2MillionA) {
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(HubSha256, EmptyAndLongVector) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // FIPS 180-4 examples / NIST: the 896-bit message.
  EXPECT_EQ(
      sha256_hex(
          "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
          "mnopqrstnopqrstu"),
      "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

// Message lengths around the 55/56/64-byte padding boundaries, fed in random pieces,
// agree with one-shot hashing; lengths 55, 56 and 64 of 'a' against known digests.
TEST(HubSha256, StreamingMatchesOneShotAcrossBoundaries) {
  EXPECT_EQ(sha256_hex(std::string(55, 'a')),
            "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  EXPECT_EQ(sha256_hex(std::string(56, 'a')),
            "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  EXPECT_EQ(sha256_hex(std::string(64, 'a')),
            "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
  std::mt19937 rng(7);
  for (std::size_t length : {0u, 1u, 55u, 56u, 63u, 64u, 65u, 119u, 120u, 128u, 1000u, 4097u}) {
    std::string message(length, '\0');
    for (auto& c : message) c = char(rng());
    Sha256 hash;
    for (std::size_t at = 0; at < length;) {
      const std::size_t piece = std::min<std::size_t>(length - at, rng() % 70);
      hash.update(message.data() + at, piece);
      at += piece;
    }
    EXPECT_EQ(hash.hex_digest(), sha256_hex(message)) << "length " << length;
    hash.reset();
    hash.update(message);
    EXPECT_EQ(hash.hex_digest(), sha256_hex(message)) << "after reset, length " << length;
  }
}

TEST(HubSha256, FileWithAndWithoutLimit) {
  const auto path = std::filesystem::temp_directory_path() / ("entropix_sha_" + std::to_string(::getpid()));
  {
    std::ofstream out(path, std::ios::binary);
    out << "abcdef";
  }
  EXPECT_EQ(sha256_file_hex(path), sha256_hex("abcdef"));
  EXPECT_EQ(sha256_file_hex(path, 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_THROW(sha256_file_hex(path, 10), entropix::Error);
  std::filesystem::remove(path);
  EXPECT_THROW(sha256_file_hex(path), entropix::Error);
}
