#include "grammar/grammar.h"

#include <algorithm>

namespace entropix::grammar {

bool Grammar::matches(const Element& e, uint32_t cp) const {
  const CharRange* r = ranges.data() + e.value;
  const CharRange* end = r + e.n_ranges;
  // Ranges are sorted and disjoint: the first one ending at or after cp decides.
  const CharRange* it = std::lower_bound(r, end, cp, [](const CharRange& a, uint32_t c) { return a.last < c; });
  const bool inside = it != end && it->first <= cp;
  return e.kind == ElementKind::Chars ? inside : !inside;
}

bool Grammar::may_match(const Element& e, uint32_t lo, uint32_t hi) const {
  const CharRange* r = ranges.data() + e.value;
  const CharRange* end = r + e.n_ranges;
  if (e.kind == ElementKind::Chars) {
    for (; r != end; ++r)
      if (r->first <= hi && r->last >= lo) return true;
    return false;
  }
  // NotChars: some code point of [lo, hi] is left uncovered by the ranges.
  uint64_t next = lo;
  for (; r != end && next <= hi; ++r) {
    if (r->last < next) continue;
    if (r->first > next) return true;
    next = static_cast<uint64_t>(r->last) + 1;
  }
  return next <= hi;
}

}  // namespace entropix::grammar
