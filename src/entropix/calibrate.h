// Calibration math: thresholds of a Profile from the per-token metrics measured
// over a reference text, at documented percentiles (profiles/README.md).
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "entropix/metrics.h"
#include "entropix/profile.h"

namespace entropix {

// Which tokens the varentropy thresholds are percentiles of. On a confident model
// almost every token has H and V near 0, so V's percentiles over all tokens sit
// below anything an uncertain token shows and HELV (H high, V low) never happens;
// over the uncertain tokens (H above entropy_high) they split those instead.
enum class VarentropyOver { All, Uncertain };

struct CalibrationOptions {
  double low_percentile = 25;     // -> *_low thresholds
  double medium_percentile = 50;  // -> v2.entropy_medium
  double high_percentile = 75;    // -> *_high thresholds
  size_t min_samples = 32;        // fewer tokens than this is an error
  VarentropyOver varentropy_over = VarentropyOver::All;
};

// Percentile (0..100) with linear interpolation between order statistics
// (numpy's default); sorts `values` in place. Throws on empty input.
double percentile(std::vector<double>& values, double pct);

// `base` with its thresholds replaced: entropy low/high from all samples,
// varentropy low/high from all samples or from those with entropy above the
// entropy_high just found (varentropy_over; at least min_samples of them); v2
// attention thresholds from the samples that have attention metrics, when there
// are at least min_samples of them (else kept from base).
// Throws entropix::Error on too few samples, non-finite values, or a metric
// whose low and high percentiles coincide (the text is too uniform).
Profile calibrate_profile(std::span<const TokenMetrics> samples, const Profile& base,
                          const CalibrationOptions& options = {});

}  // namespace entropix
