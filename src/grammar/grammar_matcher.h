// Reading text against a grammar, byte by byte, the way llama.cpp's grammar sampler
// does: the state is the set of stacks of grammar positions still to be matched (one
// per way the text read so far can be parsed), plus the bytes of a UTF-8 character
// read in part, since tokens split characters.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "grammar/grammar.h"

namespace entropix::grammar {

// A set of stacks, laid out flat so that copying a state is two vector copies.
// A stack holds element positions, innermost (the next to match) last; an empty
// stack means the text read so far is a complete match.
class StackSet {
 public:
  size_t size() const { return ends_.size(); }
  bool empty() const { return ends_.empty(); }
  std::span<const uint32_t> operator[](size_t i) const {
    const uint32_t begin = i == 0 ? 0 : ends_[i - 1];
    return {data_.data() + begin, ends_[i] - begin};
  }
  void clear() {
    data_.clear();
    ends_.clear();
  }
  // Adds `s` unless it is there already; false when it was.
  bool add(std::span<const uint32_t> s);
  bool operator==(const StackSet& o) const { return ends_ == o.ends_ && data_ == o.data_; }

 private:
  std::vector<uint32_t> data_;
  std::vector<uint32_t> ends_;  // end offset of each stack in data_
};

// The bytes of a UTF-8 character read so far.
struct PartialChar {
  uint32_t bits = 0;  // code point bits read
  uint8_t left = 0;   // continuation bytes still to come (0: none pending)
  uint8_t len = 0;    // the character's length in bytes
  bool operator==(const PartialChar&) const = default;
};

// The steps of the matcher, with their scratch space.
class StackStepper {
 public:
  explicit StackStepper(const Grammar& g) : g_(g) {}
  // Adds to `out` the stacks `s` becomes once every rule reference on top is replaced
  // by its alternatives, until a character element or nothing is on top.
  void expand(std::span<const uint32_t> s, StackSet& out);
  // The stacks of `in` that take code point `cp`, moved past it and expanded (out is cleared).
  void advance(const StackSet& in, uint32_t cp, StackSet& out);
  // Byte `b` read in state (in, p): the new state in (out, p_out); false when no stack
  // takes it (out and p_out then say nothing).
  bool advance_byte(const StackSet& in, const PartialChar& p, uint8_t b, StackSet& out, PartialChar& p_out);

 private:
  const Grammar& g_;
  void expand_top(StackSet& out, size_t depth);

  std::vector<uint32_t> tmp_;
  std::vector<uint32_t> path_;  // expand(): the stack being expanded
  size_t steps_ = 0;            // expand(): expansions so far
};

// Limits on how ambiguous a grammar may be at one point: past them, matching throws
// GrammarError instead of taking unbounded time or memory.
inline constexpr size_t kMaxStacks = 4096;
inline constexpr size_t kMaxExpansionSteps = 200'000;
inline constexpr size_t kMaxExpansionDepth = 2'000;

class GrammarMatcher {
 public:
  explicit GrammarMatcher(std::shared_ptr<const Grammar> grammar);
  // Reads `bytes` (a token's text); false, with the state unchanged, when the grammar
  // does not allow them.
  bool accept(std::string_view bytes);
  // Whether the text read so far is a complete match (the end of text may come now).
  bool accepting() const;
  // Whether more text can follow.
  bool can_continue() const;

  const Grammar& grammar() const { return *grammar_; }
  const StackSet& stacks() const { return stacks_; }
  const PartialChar& partial() const { return partial_; }

 private:
  std::shared_ptr<const Grammar> grammar_;
  StackSet stacks_;
  PartialChar partial_;
};

}  // namespace entropix::grammar
