#include "core/file_text.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

namespace entropix {

namespace {

// Closes the descriptor on every way out.
struct FdCloser {
  int fd;
  ~FdCloser() { ::close(fd); }
};

}  // namespace

std::string read_file(const std::filesystem::path& path, std::string_view what) {
  const std::string name = std::string(what) + " " + path.string();
  const auto fail = [&] { return Error("cannot read " + name + ": " + std::strerror(errno)); };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw fail();
  FdCloser closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw fail();
  if (S_ISDIR(st.st_mode)) throw Error(name + ": expected a file, found a directory");
  std::string text;
  if (S_ISREG(st.st_mode)) text.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      throw fail();
    }
    text.append(buf, static_cast<size_t>(n));
  }
  return text;
}

}  // namespace entropix
