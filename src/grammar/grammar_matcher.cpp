#include "grammar/grammar_matcher.h"

#include <algorithm>
#include <string>

#include "grammar/gbnf_parser.h"

namespace entropix::grammar {

bool StackSet::add(std::span<const uint32_t> s) {
  uint32_t begin = 0;
  for (uint32_t end : ends_) {
    if (end - begin == s.size() && std::equal(s.begin(), s.end(), data_.begin() + begin)) return false;
    begin = end;
  }
  data_.insert(data_.end(), s.begin(), s.end());
  ends_.push_back(static_cast<uint32_t>(data_.size()));
  return true;
}

void StackStepper::expand(std::span<const uint32_t> s, StackSet& out) {
  path_.assign(s.begin(), s.end());
  steps_ = 0;
  expand_top(out, 0);
}

// path_ is the stack being expanded; it is the same again when this returns.
void StackStepper::expand_top(StackSet& out, size_t depth) {
  if (++steps_ > kMaxExpansionSteps)
    throw GrammarError("the grammar is too ambiguous: more than " + std::to_string(kMaxExpansionSteps) +
                       " expansions for one character");
  if (path_.empty() || g_.elements[path_.back()].kind != ElementKind::RuleRef) {
    out.add(path_);
    if (out.size() > kMaxStacks)
      throw GrammarError("the grammar is too ambiguous: more than " + std::to_string(kMaxStacks) +
                         " ways to read the text at one point");
    return;
  }
  // Chains of rules that may be empty can be long: bound the recursion.
  if (depth > kMaxExpansionDepth)
    throw GrammarError("the grammar nests more than " + std::to_string(kMaxExpansionDepth) +
                       " rules that read nothing before the next character");
  const uint32_t pos = path_.back();
  path_.pop_back();
  const bool has_next = g_.elements[pos + 1].kind != ElementKind::End;
  if (has_next) path_.push_back(pos + 1);
  for (uint32_t alt : g_.alternatives[g_.elements[pos].value]) {
    if (g_.elements[alt].kind == ElementKind::End) {
      expand_top(out, depth + 1);
    } else {
      path_.push_back(alt);
      expand_top(out, depth + 1);
      path_.pop_back();
    }
  }
  if (has_next) path_.pop_back();
  path_.push_back(pos);
}

void StackStepper::advance(const StackSet& in, uint32_t cp, StackSet& out) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    const std::span<const uint32_t> s = in[i];
    if (s.empty()) continue;
    const uint32_t pos = s.back();
    const Element& e = g_.elements[pos];
    if (e.kind == ElementKind::RuleRef || e.kind == ElementKind::End || !g_.matches(e, cp)) continue;
    tmp_.assign(s.begin(), s.end() - 1);
    if (g_.elements[pos + 1].kind != ElementKind::End) tmp_.push_back(pos + 1);
    expand(tmp_, out);
  }
}

bool StackStepper::advance_byte(const StackSet& in, const PartialChar& p, uint8_t b, StackSet& out,
                                PartialChar& p_out) {
  if (p.left == 0) {
    if (b < 0x80) {
      advance(in, b, out);
      p_out = {};
      return !out.empty();
    }
    const uint8_t len = b >= 0xF0 && b <= 0xF4 ? 4 : b >= 0xE0 && b < 0xF0 ? 3 : b >= 0xC2 && b < 0xE0 ? 2 : 0;
    if (len == 0) return false;
    p_out = {static_cast<uint32_t>(b & (0x7F >> len)), static_cast<uint8_t>(len - 1), len};
  } else {
    if ((b & 0xC0) != 0x80) return false;
    p_out = {(p.bits << 6) | (b & 0x3Fu), static_cast<uint8_t>(p.left - 1), p.len};
    if (p_out.left == 0) {
      static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      const uint32_t cp = p_out.bits;
      p_out = {};
      if (cp < kMin[p.len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
      advance(in, cp, out);
      return !out.empty();
    }
  }
  // Part of a character: keep the stacks whose next element may take some code point
  // that starts with these bytes.
  // The code points a character of this length may hold: shorter forms are overlong.
  static constexpr uint32_t kLowest[] = {0, 0, 0x80, 0x800, 0x10000};
  const unsigned shift = 6u * p_out.left;
  const uint32_t lo = std::max(p_out.bits << shift, kLowest[p_out.len]);
  const uint32_t hi = std::min((p_out.bits << shift) | ((1u << shift) - 1), uint32_t{0x10FFFF});
  if (lo > hi) return false;
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    const std::span<const uint32_t> s = in[i];
    if (!s.empty() && g_.may_match(g_.elements[s.back()], lo, hi)) out.add(s);
  }
  return !out.empty();
}

GrammarMatcher::GrammarMatcher(std::shared_ptr<const Grammar> grammar) : grammar_(std::move(grammar)) {
  StackStepper step(*grammar_);
  for (uint32_t alt : grammar_->alternatives[grammar_->root]) {
    if (grammar_->elements[alt].kind == ElementKind::End) {
      stacks_.add({});
    } else {
      const uint32_t one[] = {alt};
      step.expand(one, stacks_);
    }
  }
}

bool GrammarMatcher::accept(std::string_view bytes) {
  StackStepper step(*grammar_);
  StackSet cur = stacks_, next;
  PartialChar p = partial_, p_next;
  for (char c : bytes) {
    if (!step.advance_byte(cur, p, static_cast<uint8_t>(c), next, p_next)) return false;
    std::swap(cur, next);
    p = p_next;
  }
  stacks_ = std::move(cur);
  partial_ = p;
  return true;
}

bool GrammarMatcher::accepting() const {
  if (partial_.left != 0) return false;
  for (size_t i = 0; i < stacks_.size(); ++i)
    if (stacks_[i].empty()) return true;
  return false;
}

bool GrammarMatcher::can_continue() const {
  for (size_t i = 0; i < stacks_.size(); ++i)
    if (!stacks_[i].empty()) return true;
  return false;
}

}  // namespace entropix::grammar
