#include "entropix/calibrate.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <iterator>
#include <sstream>
#include <string>

#include "core/error.h"

namespace entropix {

double percentile(std::vector<double>& v, double pct) {
  if (v.empty()) throw Error("percentile: expected at least one value, found none");
  if (!(pct >= 0 && pct <= 100)) throw Error("percentile: expected a percentile in [0, 100], found " + std::to_string(pct));
  std::sort(v.begin(), v.end());
  const double pos = pct / 100.0 * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

namespace {

struct Range {
  double low, medium, high;
};

Range range_of(std::span<const TokenMetrics> samples, bool attention_only,
               const std::function<double(const TokenMetrics&)>& get, const char* name,
               const CalibrationOptions& o) {
  std::vector<double> v;
  v.reserve(samples.size());
  for (const TokenMetrics& m : samples) {
    if (attention_only && !m.has_attention) continue;
    const double x = get(m);
    if (!std::isfinite(x)) throw Error(std::string("calibration: expected finite ") + name + " values, found " + std::to_string(x));
    v.push_back(x);
  }
  Range r{percentile(v, o.low_percentile), percentile(v, o.medium_percentile), percentile(v, o.high_percentile)};
  if (!(r.low < r.high)) {
    std::ostringstream s;
    s << "calibration: the " << o.low_percentile << "th and " << o.high_percentile << "th percentiles of " << name
      << " coincide (" << r.low << ") over " << v.size() << " tokens; expected a reference text with varied uncertainty";
    throw Error(s.str());
  }
  return r;
}

}  // namespace

Profile calibrate_profile(std::span<const TokenMetrics> samples, const Profile& base, const CalibrationOptions& o) {
  if (!(o.low_percentile < o.medium_percentile && o.medium_percentile < o.high_percentile))
    throw Error("calibration: expected low < medium < high percentiles");
  if (samples.size() < o.min_samples)
    throw Error("calibration: expected at least " + std::to_string(o.min_samples) + " token samples, found " +
                std::to_string(samples.size()));
  Profile p = base;
  const Range h = range_of(samples, false, [](const TokenMetrics& m) { return m.entropy; }, "entropy", o);
  std::vector<TokenMetrics> uncertain;
  if (o.varentropy_over == VarentropyOver::Uncertain) {
    std::copy_if(samples.begin(), samples.end(), std::back_inserter(uncertain),
                 [&](const TokenMetrics& m) { return m.entropy > h.high; });
    if (uncertain.size() < o.min_samples)
      throw Error("calibration: expected at least " + std::to_string(o.min_samples) +
                  " tokens with entropy above the high threshold to take varentropy percentiles over, found " +
                  std::to_string(uncertain.size()));
  }
  const std::span<const TokenMetrics> v_samples =
      o.varentropy_over == VarentropyOver::Uncertain ? std::span<const TokenMetrics>(uncertain) : samples;
  const Range v = range_of(v_samples, false, [](const TokenMetrics& m) { return m.varentropy; }, "varentropy", o);
  p.thresholds = {h.low, h.high, v.low, v.high};
  p.v2.entropy_medium = h.medium;
  const size_t n_attn = static_cast<size_t>(
      std::count_if(samples.begin(), samples.end(), [](const TokenMetrics& m) { return m.has_attention; }));
  if (n_attn >= o.min_samples) {
    const Range ae = range_of(samples, true, [](const TokenMetrics& m) { return m.attn_entropy; }, "attention entropy", o);
    const Range av = range_of(samples, true, [](const TokenMetrics& m) { return m.attn_varentropy; }, "attention varentropy", o);
    const Range ag = range_of(samples, true, [](const TokenMetrics& m) { return m.agreement; }, "agreement", o);
    const Range is = range_of(samples, true, [](const TokenMetrics& m) { return m.interaction; }, "interaction", o);
    p.v2.attn_entropy_low = ae.low;
    p.v2.attn_entropy_high = ae.high;
    p.v2.attn_varentropy_low = av.low;
    p.v2.attn_varentropy_high = av.high;
    p.v2.agreement_low = ag.low;
    p.v2.agreement_high = ag.high;
    p.v2.interaction_low = is.low;
    p.v2.interaction_high = is.high;
  }
  std::ostringstream d;
  d << "calibrated on " << samples.size() << " tokens (" << n_attn << " with attention metrics) at percentiles "
    << o.low_percentile << "/" << o.medium_percentile << "/" << o.high_percentile;
  if (o.varentropy_over == VarentropyOver::Uncertain)
    d << ", varentropy over the " << v_samples.size() << " tokens with entropy above " << h.high << " bits";
  p.description = d.str();
  validate_profile(p, "calibrated profile");
  return p;
}

}  // namespace entropix
