// A connection's socket as httplib reads and writes it, with the limits httplib
// 0.11 lacks: a request's line and headers must arrive within one deadline and
// its body within another (a client that drips a byte now and then is cut off,
// not kept forever), and a body may not run past a byte limit on the wire, which
// also holds for chunked bodies that httplib would otherwise buffer in full.
#pragma once

#include <httplib.h>

#include <array>
#include <chrono>
#include <cstddef>

namespace entropix::server {

struct StreamLimits {
  std::chrono::milliseconds header_timeout{10000};  // from a request's first byte to its blank line
  std::chrono::milliseconds body_timeout{60000};    // from there to the body's last byte
  std::chrono::milliseconds idle_timeout{5000};     // a read or a write waiting at most
  size_t max_body_wire_bytes = size_t{4} << 20;     // body bytes read for one request, framing included
};

class DeadlineSocketStream : public httplib::Stream {
 public:
  DeadlineSocketStream(int sock, const StreamLimits& limits);

  // The next request begins: its header deadline starts now.
  void begin_request();
  // What ended the last failed read.
  bool timed_out() const { return timed_out_; }
  bool body_over_limit() const { return body_over_limit_; }
  // Bytes received and not yet read by httplib (a pipelined request).
  bool has_buffered() const { return buffered_begin_ < buffered_end_; }

  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  int socket() const override { return sock_; }

 private:
  bool fill();  // receives into the buffer within the current deadline
  void note_delivered(const char* p, size_t n);  // advances header/body accounting

  using clock = std::chrono::steady_clock;
  const int sock_;
  const StreamLimits limits_;
  std::array<char, 4096> buffer_{};
  size_t buffered_begin_ = 0;
  size_t buffered_end_ = 0;
  bool in_headers_ = true;
  size_t line_length_ = 0;  // bytes of the header line so far, CR not counted
  size_t body_bytes_ = 0;
  clock::time_point deadline_;
  bool timed_out_ = false;
  bool body_over_limit_ = false;
};

}  // namespace entropix::server
