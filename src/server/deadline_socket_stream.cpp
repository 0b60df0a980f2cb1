#include "server/deadline_socket_stream.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "server/socket_address.h"

namespace entropix::server {

namespace {

// Waits up to `ms` for `events` on the socket; true when they came.
bool wait_for(int sock, short events, std::chrono::milliseconds ms) {
  pollfd p{sock, events, 0};
  for (;;) {
    const int r = ::poll(&p, 1, static_cast<int>(std::max<std::chrono::milliseconds::rep>(ms.count(), 0)));
    if (r < 0 && errno == EINTR) continue;
    return r > 0 && (p.revents & (events | POLLHUP | POLLERR)) != 0;
  }
}

}  // namespace

DeadlineSocketStream::DeadlineSocketStream(int sock, const StreamLimits& limits) : sock_(sock), limits_(limits) {
  begin_request();
}

void DeadlineSocketStream::begin_request() {
  in_headers_ = true;
  line_length_ = 0;
  body_bytes_ = 0;
  timed_out_ = false;
  body_over_limit_ = false;
  deadline_ = clock::now() + limits_.header_timeout;
}

bool DeadlineSocketStream::is_readable() const {
  return has_buffered() || wait_for(sock_, POLLIN, limits_.idle_timeout);
}

bool DeadlineSocketStream::is_writable() const { return wait_for(sock_, POLLOUT, limits_.idle_timeout); }

bool DeadlineSocketStream::fill() {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - clock::now());
  if (left.count() <= 0 || !wait_for(sock_, POLLIN, std::min(left, limits_.idle_timeout))) {
    timed_out_ = true;
    return false;
  }
  for (;;) {
    const ssize_t n = ::recv(sock_, buffer_.data(), buffer_.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buffered_begin_ = 0;
    buffered_end_ = static_cast<size_t>(n);
    return true;
  }
}

void DeadlineSocketStream::note_delivered(const char* p, size_t n) {
  size_t i = 0;
  while (in_headers_ && i < n) {
    const char c = p[i++];
    if (c == '\n') {
      if (line_length_ == 0) {  // the blank line: the body, if any, follows
        in_headers_ = false;
        deadline_ = clock::now() + limits_.body_timeout;
      }
      line_length_ = 0;
    } else if (c != '\r') {
      ++line_length_;
    }
  }
  if (!in_headers_) body_bytes_ += n - i;
}

ssize_t DeadlineSocketStream::read(char* ptr, size_t size) {
  if (size == 0) return 0;
  if (!in_headers_ && body_bytes_ >= limits_.max_body_wire_bytes) {
    body_over_limit_ = true;
    return -1;
  }
  if (!has_buffered() && !fill()) return -1;
  const size_t n = std::min(size, buffered_end_ - buffered_begin_);
  std::memcpy(ptr, buffer_.data() + buffered_begin_, n);
  buffered_begin_ += n;
  note_delivered(ptr, n);
  return static_cast<ssize_t>(n);
}

ssize_t DeadlineSocketStream::write(const char* ptr, size_t size) {
  if (!is_writable()) return -1;
  for (;;) {
    const ssize_t n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    return n;
  }
}

void DeadlineSocketStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  peer_address(sock_, ip, port);
}

void DeadlineSocketStream::get_local_ip_and_port(std::string& ip, int& port) const {
  local_address(sock_, ip, port);
}

}  // namespace entropix::server
