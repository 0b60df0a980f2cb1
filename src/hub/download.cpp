#include "hub/download.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "core/error.h"
#include "hub/http.h"
#include "hub/progress.h"
#include "hub/sha256.h"

namespace entropix::hub {
namespace {

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// State shared with the libcurl callbacks of one request.
struct Transfer {
  CURL* curl = nullptr;
  int fd = -1;
  Sha256* hash = nullptr;
  std::uint64_t offset = 0;           // bytes in the .part so far
  std::optional<std::uint64_t> size;  // expected total
  bool started = false;               // the first body byte has been seen
  bool restarted = false;             // the server ignored Range: started over from byte 0
  bool range_mismatch = false;        // a 206 that does not start where we asked
  std::string content_range;          // of the latest response
  std::string error;                  // why a callback stopped the transfer
  TransferProgress* progress = nullptr;
  const std::atomic<bool>* cancel = nullptr;
  const std::function<void(std::uint64_t, std::optional<std::uint64_t>)>* on_bytes = nullptr;
};

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::string line(data, size * count);
  if (line.starts_with("HTTP/")) {
    t->content_range.clear();  // a new response (after a redirect)
  } else if (line.size() > 14 && strncasecmp(line.c_str(), "content-range:", 14) == 0) {
    t->content_range = line.substr(14);
    const auto first = t->content_range.find_first_not_of(" \t");
    const auto last = t->content_range.find_last_not_of(" \t\r\n");
    t->content_range = first == std::string::npos ? "" : t->content_range.substr(first, last - first + 1);
  }
  return size * count;
}

// Called on the first body byte: the status decides between appending and restarting.
bool start_body(Transfer* t) {
  long status = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  if (status == 206) {
    unsigned long long start = 0;
    if (std::sscanf(t->content_range.c_str(), "bytes %llu-", &start) != 1 || start != t->offset) {
      t->range_mismatch = true;
      t->error = fmt::format("expected a response starting at byte {}, found Content-Range '{}'", t->offset,
                             t->content_range);
      return false;
    }
  } else if (t->offset > 0) {
    if (::ftruncate(t->fd, 0) != 0) {
      t->error = fmt::format("cannot truncate the partial file: {}", std::strerror(errno));
      return false;
    }
    t->offset = 0;
    t->hash->reset();
    t->restarted = true;
  }
  return true;
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t bytes = size * count;
  if (!t->started) {
    t->started = true;
    if (!start_body(t)) return 0;
  }
  if (t->size && t->offset + bytes > *t->size) {
    t->error = fmt::format("expected {} bytes, the server sent more", *t->size);
    return 0;
  }
  for (std::size_t written = 0; written < bytes;) {
    const ssize_t n = ::pwrite(t->fd, data + written, bytes - written, off_t(t->offset + written));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      t->error = fmt::format("cannot write the partial file: {}", std::strerror(errno));
      return 0;
    }
    written += std::size_t(n);
  }
  t->hash->update(data, bytes);
  t->offset += bytes;
  return bytes;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (t->cancel && t->cancel->load()) return 1;
  t->progress->update(t->offset);
  if (t->on_bytes && *t->on_bytes) (*t->on_bytes)(t->offset, t->size);
  return 0;
}

// Hashes the first `bytes` of `fd`.
void hash_prefix(int fd, std::uint64_t bytes, Sha256& hash, const std::filesystem::path& path) {
  std::vector<char> chunk(1 << 20);
  for (std::uint64_t done = 0; done < bytes;) {
    const ssize_t n =
        ::pread(fd, chunk.data(), std::min<std::uint64_t>(chunk.size(), bytes - done), off_t(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      throw Error(
          fmt::format("cannot read back {} at byte {}: {}", path.string(), done, std::strerror(errno)));
    hash.update(chunk.data(), std::size_t(n));
    done += std::uint64_t(n);
  }
}

// Throws Error if the .part's file system has less than `needed` bytes available.
void check_free_space(const DownloadRequest& request, std::uint64_t needed) {
  struct statvfs vfs {};
  const auto dir = request.part.parent_path();
  if (::statvfs(dir.c_str(), &vfs) != 0) return;  // unknown: let the writes tell
  const std::uint64_t available = std::uint64_t(vfs.f_bavail) * vfs.f_frsize;
  if (needed > available)
    throw Error(fmt::format("not enough disk space for {}: expected {} free in {}, found {}", request.label,
                            format_bytes(needed), dir.string(), format_bytes(available)));
}

}  // namespace

DownloadResult download_resumable(const DownloadRequest& request) {
  ensure_curl_initialized();
  const std::string part = request.part.string();
  std::error_code ec;
  std::filesystem::create_directories(request.part.parent_path(), ec);
  if (ec)
    throw Error(
        fmt::format("cannot create the directory {}: {}", request.part.parent_path().string(), ec.message()));
  FileDescriptor fd(::open(part.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (fd.get() < 0) throw Error(fmt::format("cannot open {} for writing: {}", part, std::strerror(errno)));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0)
    throw Error(
        fmt::format("another download of {} is in progress (it holds the lock on {}); wait for it to end",
                    request.label, part));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw Error(fmt::format("cannot stat {}: {}", part, std::strerror(errno)));
  std::uint64_t existing = std::uint64_t(st.st_size);
  if (request.size && existing > *request.size) {
    if (::ftruncate(fd.get(), 0) != 0)
      throw Error(fmt::format("cannot truncate {}: {}", part, std::strerror(errno)));
    existing = 0;
  }
  Sha256 hash;
  hash_prefix(fd.get(), existing, hash, request.part);
  DownloadResult result;
  result.resumed_from = existing;
  if (request.size && existing == *request.size) {
    result.size = existing;
    result.sha256 = hash.hex_digest();
    return result;
  }

  if (request.size) check_free_space(request, *request.size - existing);

  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(nullptr, curl_slist_free_all);
  if (!request.token.empty())
    headers.reset(curl_slist_append(nullptr, ("Authorization: Bearer " + request.token).c_str()));
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
    if (!curl) throw Error("libcurl could not create a handle");
    TransferProgress progress(request.label, request.size, existing, request.progress ? stderr : nullptr);
    Transfer t;
    t.curl = curl.get();
    t.fd = fd.get();
    t.hash = &hash;
    t.offset = existing;
    t.size = request.size;
    t.progress = &progress;
    t.cancel = request.cancel;
    t.on_bytes = &request.on_bytes;
    char error[CURL_ERROR_SIZE] = {};
    const std::string range = fmt::format("{}-", existing);
    CURL* h = curl.get();
    curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "entropix");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
    if (existing > 0) curl_easy_setopt(h, CURLOPT_RANGE, range.c_str());
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
    // A transfer that stalls below 1 byte/s for a minute fails, keeping the .part.
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    const CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    progress.finish(t.offset);
    if (t.restarted && request.progress)
      std::fprintf(
          stderr,
          "note: the server ignored the request to resume at byte %llu; downloaded %s from the start\n",
          static_cast<unsigned long long>(existing), request.label.c_str());
    ::fsync(fd.get());
    const std::string size_text = request.size ? std::to_string(*request.size) : "?";
    const std::string kept = fmt::format("{} of {} bytes are kept in {}; run the same pull again to resume",
                                         t.offset, size_text, part);
    // A server that cannot serve the range we asked for: start over once from byte 0.
    const bool bad_range = t.range_mismatch || (rc == CURLE_HTTP_RETURNED_ERROR && status == 416);
    if (bad_range && attempt == 0 && existing > 0) {
      if (::ftruncate(fd.get(), 0) != 0)
        throw Error(fmt::format("cannot truncate {}: {}", part, std::strerror(errno)));
      existing = 0;
      hash.reset();
      continue;
    }
    if (rc == CURLE_OK) {
      if (request.size && t.offset != *request.size)
        throw Error(fmt::format("download of {} from {} ended early: {}", request.label, request.url, kept));
      result.size = t.offset;
      result.sha256 = hash.hex_digest();
      result.resumed_from = t.restarted ? 0 : existing;
      return result;
    }
    if (rc == CURLE_ABORTED_BY_CALLBACK)
      throw Error(fmt::format("download of {} interrupted; {}", request.label, kept));
    if (rc == CURLE_HTTP_RETURNED_ERROR) {
      if (t.offset == 0) ::unlink(part.c_str());  // nothing worth keeping
      throw_http_error(status, "file " + request.label, request.url, !request.token.empty());
    }
    const std::string why = !t.error.empty() ? t.error : (error[0] ? error : curl_easy_strerror(rc));
    throw Error(fmt::format("download of {} from {} failed: {}; {}", request.label, request.url, why, kept));
  }
}

}  // namespace entropix::hub
