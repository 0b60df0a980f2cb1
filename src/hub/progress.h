// Download progress on stderr: a redrawn bar on a terminal, occasional plain lines otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

namespace entropix::hub {

// 1536 -> "1.5 KiB"; bytes below 1 KiB as "512 B".
std::string format_bytes(std::uint64_t bytes);
// Seconds as "42s", "3m05s", "2h07m"; "?" for negative or non-finite values.
std::string format_duration(double seconds);
// One progress line: label, percent and bar (when total is known), bytes, speed, ETA.
std::string progress_line(const std::string& label, std::uint64_t done, std::optional<std::uint64_t> total,
                          double bytes_per_second, int bar_width);

class TransferProgress {
 public:
  // `done` bytes are already present (a resumed .part); `out` null disables reporting.
  TransferProgress(std::string label, std::optional<std::uint64_t> total, std::uint64_t done, std::FILE* out);
  // Reports `done` bytes now present; rate-limited.
  void update(std::uint64_t done);
  // Reports the final state and ends the line; silent if nothing was shown or received.
  void finish(std::uint64_t done);

 private:
  using Clock = std::chrono::steady_clock;
  void print(std::uint64_t done, bool final);

  std::string label_;
  std::optional<std::uint64_t> total_;
  std::FILE* out_;  // stderr, or null when quiet
  bool terminal_;   // redraw in place with '\r'
  Clock::time_point last_print_;
  Clock::time_point last_sample_;
  std::uint64_t last_sample_bytes_;
  double speed_ = 0;  // bytes/s, exponentially smoothed
  Clock::time_point start_;
  std::uint64_t start_bytes_;  // bytes present when this transfer began
  bool shown_ = false;         // a line has been printed
};

}  // namespace entropix::hub
