#include "grammar/numeric_range_grammar.h"

#include <algorithm>
#include <cctype>
#include <fmt/core.h>
#include <string>
#include <vector>

#include "grammar/gbnf_writer.h"

namespace entropix {

namespace {

constexpr uint64_t kMaxIntegerMagnitude = 9'999'999'999'999'999'999ULL;  // kMaxIntegerDigits nines

std::string join_alternatives(const std::vector<std::string>& alternatives) {
  std::string out;
  for (const auto& a : alternatives) out += (out.empty() ? "" : " | ") + a;
  return out;
}

std::string digit_class(int from, int to) {
  if (from == to) return fmt::format("\"{}\"", from);
  return fmt::format("[{}-{}]", from, to);
}

std::string digits(uint64_t count) { return gbnf_repeat("[0-9]", count, count); }

// Digit strings of x's length between x and y (same length, x <= y), leading zeros allowed.
std::string fixed_length_range(const std::string& x, const std::string& y) {
  if (x == y) return gbnf_literal(x);
  size_t common = 0;
  while (x[common] == y[common]) ++common;
  const int xs = x[common] - '0', ys = y[common] - '0';
  const std::string xr = x.substr(common + 1), yr = y.substr(common + 1);
  const bool xr_zeros = xr.find_first_not_of('0') == std::string::npos;
  const bool yr_nines = yr.find_first_not_of('9') == std::string::npos;
  std::vector<std::string> alternatives;
  // x's first differing digit followed by anything at least x's rest, then the digits
  // strictly between with any rest, then y's digit followed by anything at most y's rest.
  if (!xr_zeros) alternatives.push_back(digit_class(xs, xs) + " " + gbnf_group(fixed_length_range(xr, std::string(xr.size(), '9'))));
  const int low = xr_zeros ? xs : xs + 1, high = yr_nines ? ys : ys - 1;
  if (low <= high) alternatives.push_back(xr.empty() ? digit_class(low, high) : fmt::format("{} {}", digit_class(low, high), digits(xr.size())));
  if (!yr_nines) alternatives.push_back(digit_class(ys, ys) + " " + gbnf_group(fixed_length_range(std::string(yr.size(), '0'), yr)));
  const std::string rest = alternatives.size() == 1 ? alternatives[0] : fmt::format("({})", join_alternatives(alternatives));
  return common ? gbnf_literal(x.substr(0, common)) + " " + rest : rest;
}

uint64_t power_of_ten(size_t exponent) {
  uint64_t p = 1;
  while (exponent--) p *= 10;
  return p;
}

// Unsigned integers in [lo, hi] without leading zeros, one alternative per length;
// the lengths in between that are complete share one alternative.
std::vector<std::string> unsigned_range(uint64_t lo, uint64_t hi) {
  std::vector<std::string> out;
  const size_t lo_len = std::to_string(lo).size(), hi_len = std::to_string(hi).size();
  if (lo_len == hi_len) return {fixed_length_range(std::to_string(lo), std::to_string(hi))};
  const uint64_t lo_len_top = power_of_ten(lo_len) - 1;
  out.push_back(fixed_length_range(std::to_string(lo), std::to_string(lo_len_top)));
  const bool hi_full = hi == power_of_ten(hi_len) - 1;
  const size_t full_from = lo_len + 1, full_to = hi_full ? hi_len : hi_len - 1;
  if (full_from <= full_to) out.push_back("[1-9] " + gbnf_repeat("[0-9]", full_from - 1, full_to - 1));
  if (!hi_full) out.push_back(fixed_length_range(std::to_string(power_of_ten(hi_len - 1)), std::to_string(hi)));
  return out;
}

// ---- fractional digits -------------------------------------------------------------

// A bound on a string of fractional digits, compared as decimals (padded with zeros).
struct FractionBound {
  std::string digits;  // no trailing zeros
  bool exclusive = false;
};

// The digit strings (after the point) within bounds: whether the empty one (no point
// at all) is in, and alternatives for the non-empty ones, at most `budget` digits long.
struct FractionSet {
  bool empty_ok = false;
  std::vector<std::string> alternatives;
  bool none() const { return !empty_ok && alternatives.empty(); }
};

void trim_trailing_zeros(std::string& digits) {
  while (!digits.empty() && digits.back() == '0') digits.pop_back();
}

// Digit strings of 1..budget digits with a non-zero one: its leading zeros, the first
// non-zero digit, then any digits up to the budget.
std::string nonzero_digits(uint64_t budget) {
  std::string out = "[1-9]";
  for (uint64_t zeros = 1; zeros < budget; ++zeros) {
    out = fmt::format("[1-9] {} | \"0\" ({})", gbnf_repeat("[0-9]", 0, zeros), out);
  }
  return out;
}

FractionSet fractions(std::optional<FractionBound> lo, std::optional<FractionBound> hi, uint64_t budget) {
  if (lo) trim_trailing_zeros(lo->digits);
  if (hi) trim_trailing_zeros(hi->digits);
  if (lo && lo->digits.empty() && !lo->exclusive) lo.reset();  // >= 0 holds for every fraction
  // A present lower bound is now above zero (or "> 0"), so zero meets it only when absent.
  if (hi && hi->digits.empty()) {
    if (hi->exclusive || lo) return {};  // "< 0", or zero against a bound above it
    FractionSet zeros{true, {}};
    if (budget) zeros.alternatives.push_back(gbnf_repeat("\"0\"", 1, budget));
    return zeros;
  }
  FractionSet out{!lo, {}};
  if (!budget) return out;
  if (!lo && !hi) {
    out.alternatives.push_back(gbnf_repeat("[0-9]", 1, budget));
    return out;
  }
  if (lo && lo->digits.empty() && !hi) {  // "> 0": a non-zero digit somewhere
    out.alternatives.push_back(nonzero_digits(budget));
    return out;
  }
  // First digit d: what it leaves of each bound for the digits after it.
  const int lo_first = lo ? (lo->digits.empty() ? 0 : lo->digits[0] - '0') : -1;
  const int hi_first = hi ? hi->digits[0] - '0' : 10;
  const auto after = [](const std::optional<FractionBound>& b, std::optional<FractionBound>& rest) {
    rest = FractionBound{b->digits.empty() ? "" : b->digits.substr(1), b->exclusive};
  };
  int d = std::max(0, lo_first);
  while (d <= std::min(9, hi_first)) {
    std::optional<FractionBound> lo_rest, hi_rest;
    int last = d;
    if (d == lo_first) after(lo, lo_rest);
    if (d == hi_first) after(hi, hi_rest);
    if (d != lo_first && d != hi_first) last = std::min(9, hi_first - 1);  // digits strictly between
    const FractionSet rest = fractions(lo_rest, hi_rest, budget - 1);
    if (!rest.none()) {
      std::string alternative = digit_class(d, last);
      if (!rest.alternatives.empty()) {
        const std::string tail = gbnf_group(join_alternatives(rest.alternatives));
        alternative += " " + tail + (rest.empty_ok ? "?" : "");
      }
      out.alternatives.push_back(alternative);
    }
    d = last + 1;
  }
  return out;
}

// An integral part followed by the fractional digits allowed with it.
void add_piece(std::vector<std::string>& pieces, const std::string& integral, const FractionSet& fraction) {
  if (fraction.none()) return;
  if (fraction.alternatives.empty()) {
    pieces.push_back(integral);
    return;
  }
  const std::string point = "\".\" " + gbnf_group(join_alternatives(fraction.alternatives));
  pieces.push_back(gbnf_group(integral) + " " + (fraction.empty_ok ? "(" + point + ")?" : point));
}

uint64_t fraction_budget(size_t integral_length) {
  return integral_length >= kMaxBoundedDecimalDigits ? 0 : kMaxBoundedDecimalDigits - integral_length;
}

// Non-negative decimals within bounds on their magnitude (bounds with non-negative values).
std::vector<std::string> magnitudes(const std::optional<DecimalBound>& lower, const std::optional<DecimalBound>& upper) {
  std::vector<std::string> pieces;
  const auto integral_of = [](const std::optional<DecimalBound>& b) { return std::stoull(b->value.integral); };
  const auto fraction_of = [](const std::optional<DecimalBound>& b) {
    return std::optional<FractionBound>(FractionBound{b->value.fraction, b->exclusive});
  };
  if (lower && upper) {
    const uint64_t li = integral_of(lower), ui = integral_of(upper);
    if (li > ui) return {};
    if (li == ui) {
      add_piece(pieces, gbnf_literal(lower->value.integral),
                fractions(fraction_of(lower), fraction_of(upper), fraction_budget(lower->value.integral.size())));
      return pieces;
    }
  }
  if (lower) {
    add_piece(pieces, gbnf_literal(lower->value.integral),
              fractions(fraction_of(lower), std::nullopt, fraction_budget(lower->value.integral.size())));
  }
  const uint64_t middle_lo = lower ? integral_of(lower) + 1 : 0;
  const std::optional<uint64_t> middle_hi =
      upper ? (integral_of(upper) == 0 ? std::nullopt : std::optional<uint64_t>(integral_of(upper) - 1))
            : std::optional<uint64_t>(kMaxIntegerMagnitude);
  if (middle_hi && middle_lo <= *middle_hi) {
    // One piece per integral length, since the fraction's budget depends on it.
    for (size_t len = std::to_string(middle_lo).size(); len <= std::to_string(*middle_hi).size(); ++len) {
      const uint64_t from = std::max(middle_lo, len == 1 ? 0 : power_of_ten(len - 1));
      const uint64_t to = std::min(*middle_hi, power_of_ten(len) - 1);
      add_piece(pieces, join_alternatives(unsigned_range(from, to)), fractions(std::nullopt, std::nullopt, fraction_budget(len)));
    }
  }
  if (upper) {
    add_piece(pieces, gbnf_literal(upper->value.integral),
              fractions(std::nullopt, fraction_of(upper), fraction_budget(upper->value.integral.size())));
  }
  return pieces;
}

DecimalBound magnitude_of(const DecimalBound& b) {
  DecimalBound m = b;
  m.value.negative = false;
  return m;
}

bool below_zero(const Decimal& d) { return d.negative && !d.is_zero(); }

std::optional<std::string> signed_alternatives(const std::vector<std::string>& non_negative,
                                               const std::vector<std::string>& negative) {
  std::vector<std::string> alternatives = non_negative;
  if (!negative.empty()) {
    const std::string magnitude = negative.size() == 1 ? negative[0] : fmt::format("({})", join_alternatives(negative));
    alternatives.push_back("\"-\" " + gbnf_group(magnitude));
  }
  if (alternatives.empty()) return std::nullopt;
  return join_alternatives(alternatives);
}

}  // namespace

int Decimal::significant_digits() const {
  if (integral != "0") return static_cast<int>(integral.size() + fraction.size());
  const size_t first = fraction.find_first_not_of('0');
  return first == std::string::npos ? 0 : static_cast<int>(fraction.size() - first);
}

std::optional<Decimal> parse_decimal(std::string_view text) {
  Decimal d;
  size_t i = 0;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) d.negative = text[i++] == '-';
  std::string mantissa;
  long long point = -1;  // digits before the point
  for (; i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'); ++i) {
    if (text[i] == '.') {
      if (point >= 0) return std::nullopt;
      point = static_cast<long long>(mantissa.size());
    } else {
      mantissa += text[i];
    }
  }
  if (mantissa.empty()) return std::nullopt;
  if (point < 0) point = static_cast<long long>(mantissa.size());
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    const std::string exponent(text.substr(i + 1));
    if (exponent.empty() || exponent.size() > 5) return std::nullopt;
    size_t used = 0;
    try {
      point += std::stoll(exponent, &used);
    } catch (const std::exception&) {
      return std::nullopt;
    }
    if (used != exponent.size()) return std::nullopt;
    i = text.size();
  }
  if (i != text.size()) return std::nullopt;
  // Place the point: pad with zeros on whichever side it falls outside the digits.
  if (point < 0) {
    mantissa.insert(0, static_cast<size_t>(-point), '0');
    point = 0;
  }
  if (point > static_cast<long long>(mantissa.size())) mantissa.append(static_cast<size_t>(point) - mantissa.size(), '0');
  d.integral = mantissa.substr(0, static_cast<size_t>(point));
  d.fraction = mantissa.substr(static_cast<size_t>(point));
  d.integral.erase(0, std::min(d.integral.find_first_not_of('0'), d.integral.size()));
  if (d.integral.empty()) d.integral.assign(1, '0');
  trim_trailing_zeros(d.fraction);
  return d;
}

std::optional<std::string> integer_range_gbnf(std::optional<int64_t> min, std::optional<int64_t> max) {
  if (min && max && *min > *max) return std::nullopt;
  // int64 magnitudes through uint64, so INT64_MIN does not overflow.
  const auto magnitude = [](int64_t v) { return v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v); };
  std::vector<std::string> non_negative, negative;
  if (!max || *max >= 0) {
    const uint64_t lo = min && *min > 0 ? magnitude(*min) : 0;
    const uint64_t hi = max ? std::min(magnitude(*max), kMaxIntegerMagnitude) : kMaxIntegerMagnitude;
    if (lo <= hi) non_negative = unsigned_range(lo, hi);
  }
  if (!min || *min < 0) {
    const uint64_t lo = max && *max < 0 ? magnitude(*max) : 1;
    const uint64_t hi = min ? std::min(magnitude(*min), kMaxIntegerMagnitude) : kMaxIntegerMagnitude;
    if (lo <= hi) negative = unsigned_range(lo, hi);
  }
  return signed_alternatives(non_negative, negative);
}

std::optional<std::string> decimal_range_gbnf(const std::optional<DecimalBound>& lower,
                                              const std::optional<DecimalBound>& upper) {
  // v >= 0, written without a sign: the bounds at or above zero bound its magnitude.
  std::vector<std::string> non_negative, negative;
  if (!(upper && below_zero(upper->value))) {
    std::optional<DecimalBound> lo, hi;
    if (lower && !below_zero(lower->value)) lo = magnitude_of(*lower);
    if (upper) hi = magnitude_of(*upper);
    non_negative = magnitudes(lo, hi);
  }
  // v < 0, written "-m": v >= lower means m <= |lower|, v <= upper means m >= |upper|;
  // m > 0 always, so "-0" is never written.
  if (!(lower && !below_zero(lower->value))) {
    std::optional<DecimalBound> lo = DecimalBound{Decimal{}, true}, hi;
    if (upper && below_zero(upper->value)) lo = magnitude_of(*upper);
    if (lower) hi = magnitude_of(*lower);
    negative = magnitudes(lo, hi);
  }
  return signed_alternatives(non_negative, negative);
}

}  // namespace entropix
