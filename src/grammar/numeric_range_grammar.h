// GBNF for JSON numbers within bounds, exact digit by digit: integers between two
// int64 bounds, and decimals between decimal bounds (each end inclusive or exclusive).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace entropix {

// Integers the grammars write have at most this many digits, so every repetition is
// bounded (19 digits hold every int64).
inline constexpr int kMaxIntegerDigits = 19;
// A bounded decimal has at most this many significant digits (integral and fractional
// digits together). Two different decimals of up to 15 significant digits are different
// doubles (DBL_DIG), so a number the grammar allows above an exclusive bound stays
// above it once a reader parses it as a double.
inline constexpr int kMaxBoundedDecimalDigits = 15;

// A decimal number as written: sign, integral digits ("0" for none, no leading zeros)
// and fractional digits (no trailing zeros).
struct Decimal {
  bool negative = false;
  std::string integral = "0";
  std::string fraction;

  bool is_zero() const { return integral == "0" && fraction.empty(); }
  int significant_digits() const;
};

// The decimal a JSON number's text writes ("-12.5", "1e-07", "3E+2"); nullopt when the
// text is not a number.
std::optional<Decimal> parse_decimal(std::string_view json_number);

struct DecimalBound {
  Decimal value;
  bool exclusive = false;
};

// `-?(0|[1-9][0-9]*)` restricted to [min, max]; an absent end is unbounded (up to
// kMaxIntegerDigits digits). nullopt when no integer lies in the range.
std::optional<std::string> integer_range_gbnf(std::optional<int64_t> min, std::optional<int64_t> max);

// Decimals without exponent (`-?(0|[1-9][0-9]*)(\.[0-9]+)?`) within the bounds, with at
// most kMaxBoundedDecimalDigits significant digits. Bounds must have integral parts
// below 10^15. nullopt when no number lies in the range.
std::optional<std::string> decimal_range_gbnf(const std::optional<DecimalBound>& lower,
                                              const std::optional<DecimalBound>& upper);

}  // namespace entropix
