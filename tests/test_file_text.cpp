// read_file: a whole file's bytes, and errors that name the file and say what was wrong.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include "core/error.h"
#include "core/file_text.h"

namespace fs = std::filesystem;

namespace {

class ReadFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("entropix_file_text_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

// The message of the Error that `read` throws ("" when it throws none).
template <class F>
std::string error_of(F read) {
  try {
    read();
  } catch (const entropix::Error& e) {
    return e.what();
  }
  return "";
}

TEST_F(ReadFile, ReturnsEveryByte) {
  std::string bytes("line 1\r\nNUL \0 and \xFF\n", 19);
  bytes += std::string(200000, 'x');  // more than one read
  std::ofstream(dir_ / "a.txt", std::ios::binary) << bytes;
  EXPECT_EQ(entropix::read_file(dir_ / "a.txt", "prompt file"), bytes);
  std::ofstream(dir_ / "empty.txt", std::ios::binary).flush();
  EXPECT_EQ(entropix::read_file(dir_ / "empty.txt", "prompt file"), "");
  EXPECT_EQ(entropix::read_file("/dev/null", "prompt file"), "");
}

TEST_F(ReadFile, AMissingFileIsAnErrorNamingItAndTheReason) {
  const fs::path missing = dir_ / "missing.txt";
  const std::string msg = error_of([&] { entropix::read_file(missing, "prompt file"); });
  EXPECT_NE(msg.find("cannot read prompt file " + missing.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("No such file"), std::string::npos) << msg;
}

TEST_F(ReadFile, ADirectoryIsAnErrorNamingIt) {
  const std::string msg = error_of([&] { entropix::read_file(dir_, "reference text"); });
  EXPECT_EQ(msg, "reference text " + dir_.string() + ": expected a file, found a directory");
}

}  // namespace
