// Calibration math: thresholds of a Profile from the per-token metrics measured
// over a reference text, at documented percentiles (profiles/README.md).
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "entropix/metrics.h"
#include "entropix/profile.h"

namespace entropix {

struct CalibrationOptions {
  double low_percentile = 25;     // -> *_low thresholds
  double medium_percentile = 50;  // -> v2.entropy_medium
  double high_percentile = 75;    // -> *_high thresholds
  size_t min_samples = 32;        // fewer tokens than this is an error
};

// Percentile (0..100) with linear interpolation between order statistics
// (numpy's default); sorts `values` in place. Throws on empty input.
double percentile(std::vector<double>& values, double pct);

// `base` with its thresholds replaced: entropy/varentropy low/high from all
// samples; v2 attention thresholds from the samples that have attention
// metrics, when there are at least min_samples of them (else kept from base).
// Throws entropix::Error on too few samples, non-finite values, or a metric
// whose low and high percentiles coincide (the text is too uniform).
Profile calibrate_profile(std::span<const TokenMetrics> samples, const Profile& base,
                          const CalibrationOptions& options = {});

}  // namespace entropix
