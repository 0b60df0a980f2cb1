#include "hub/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>

namespace entropix::hub {

std::string format_bytes(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  double value = double(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 6) {
    value /= 1024;
    ++unit;
  }
  return fmt::format("{:.1f} {}", value, kUnits[unit]);
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<std::uint64_t>(std::llround(seconds));
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

std::string progress_line(const std::string& label, std::uint64_t done, std::optional<std::uint64_t> total,
                          double bytes_per_second, int bar_width) {
  std::string line = label + " ";
  if (total && *total > 0) {
    const double fraction = std::min(1.0, double(done) / double(*total));
    const int filled = int(fraction * bar_width);
    line += fmt::format("{:3.0f}% [{}{}] {} / {}", fraction * 100, std::string(filled, '#'),
                        std::string(bar_width - filled, '.'), format_bytes(done), format_bytes(*total));
  } else {
    line += format_bytes(done);
  }
  line += fmt::format("  {}/s", format_bytes(static_cast<std::uint64_t>(bytes_per_second)));
  if (total && done < *total)
    line += "  ETA " + format_duration(bytes_per_second > 0 ? double(*total - done) / bytes_per_second : -1);
  return line;
}

TransferProgress::TransferProgress(std::string label, std::optional<std::uint64_t> total, std::uint64_t done,
                                   std::FILE* out)
    : label_(std::move(label)),
      total_(total),
      out_(out),
      terminal_(out && isatty(fileno(out))),
      last_print_(Clock::now()),
      last_sample_(last_print_),
      last_sample_bytes_(done),
      start_(last_print_),
      start_bytes_(done) {}

void TransferProgress::update(std::uint64_t done) {
  if (!out_) return;
  const auto now = Clock::now();
  const double since_sample = std::chrono::duration<double>(now - last_sample_).count();
  if (since_sample >= 0.5) {
    const double rate = double(done - std::min(done, last_sample_bytes_)) / since_sample;
    speed_ = speed_ == 0 ? rate : 0.7 * speed_ + 0.3 * rate;
    last_sample_ = now;
    last_sample_bytes_ = done;
  }
  // A terminal gets about 5 redraws a second; a log gets a line every 10 seconds.
  const auto interval = terminal_ ? std::chrono::milliseconds(200) : std::chrono::milliseconds(10000);
  if (now - last_print_ < interval) return;
  last_print_ = now;
  print(done, false);
}

void TransferProgress::finish(std::uint64_t done) {
  if (!out_ || (!shown_ && done == start_bytes_)) return;
  print(done, true);
}

void TransferProgress::print(std::uint64_t done, bool final) {
  double speed = speed_;
  if (final || speed == 0) {
    const double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    speed = seconds > 0 ? double(done - std::min(done, start_bytes_)) / seconds : 0;
  }
  const std::string line = progress_line(label_, done, total_, speed, terminal_ ? 30 : 20);
  if (terminal_)
    std::fprintf(out_, "\r%s\033[K%s", line.c_str(), final ? "\n" : "");
  else
    std::fprintf(out_, "%s\n", line.c_str());
  std::fflush(out_);
  shown_ = true;
}

}  // namespace entropix::hub
