// TokenStreamDecoder: detokenize one token at a time without splitting a UTF-8 character.
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace entropix {

namespace {

// Length of the longest prefix of s that does not end inside an unfinished
// multi-byte sequence (a lead byte followed by too few continuation bytes).
size_t complete_prefix(std::string_view s) {
  const size_t n = s.size();
  for (size_t back = 1; back <= 4 && back <= n; ++back) {
    const uint8_t b = static_cast<uint8_t>(s[n - back]);
    if ((b & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    if (b >= 0xC0 && b < 0xF8 && unicode::utf8_len(b) > back) return n - back;
    return n;
  }
  return n;
}

}  // namespace

std::string TokenStreamDecoder::push(int32_t id) {
  pending_ += tokenizer_.display_piece(id);
  const size_t cut = complete_prefix(pending_);
  std::string out = pending_.substr(0, cut);
  pending_.erase(0, cut);
  return out;
}

std::string TokenStreamDecoder::flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

}  // namespace entropix
