#include "tokenizer/utf8.h"

#include <unicode/uchar.h>

#include <array>
#include <mutex>

namespace entropix::unicode {

size_t utf8_len(uint8_t lead) {
  static constexpr uint8_t kLookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLookup[lead >> 4];
}

namespace {

bool is_cont(uint8_t b) { return (b & 0xC0) == 0x80; }

// One code point at text[pos], or U+FFFD with length 1 for an invalid sequence.
uint32_t decode_one(std::string_view text, size_t pos, size_t& len) {
  const auto at = [&](size_t i) { return static_cast<uint8_t>(text[pos + i]); };
  const size_t avail = text.size() - pos;
  const uint8_t b0 = at(0);
  len = 1;
  if (b0 < 0x80) return b0;
  if ((b0 & 0x40) == 0) return kReplacement;  // stray continuation byte
  if ((b0 & 0x20) == 0) {
    if (avail < 2 || !is_cont(at(1))) return kReplacement;
    len = 2;
    return (uint32_t(b0 & 0x1F) << 6) | (at(1) & 0x3F);
  }
  if ((b0 & 0x10) == 0) {
    if (avail < 3 || !is_cont(at(1)) || !is_cont(at(2))) return kReplacement;
    len = 3;
    return (uint32_t(b0 & 0x0F) << 12) | (uint32_t(at(1) & 0x3F) << 6) | (at(2) & 0x3F);
  }
  if ((b0 & 0x08) == 0) {
    if (avail < 4 || !is_cont(at(1)) || !is_cont(at(2)) || !is_cont(at(3))) return kReplacement;
    const uint32_t cpt = (uint32_t(b0 & 0x07) << 18) | (uint32_t(at(1) & 0x3F) << 12) |
                         (uint32_t(at(2) & 0x3F) << 6) | (at(3) & 0x3F);
    if (cpt > 0x10FFFF) return kReplacement;  // not encodable; llama.cpp would throw later
    len = 4;
    return cpt;
  }
  return kReplacement;
}

}  // namespace

std::vector<uint32_t> decode_utf8(std::string_view text) {
  std::vector<uint32_t> out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    size_t len = 1;
    out.push_back(decode_one(text, pos, len));
    pos += len;
  }
  return out;
}

void append_utf8(std::string& out, uint32_t cpt) {
  if (cpt < 0x80) {
    out += static_cast<char>(cpt);
  } else if (cpt < 0x800) {
    out += static_cast<char>(0xC0 | (cpt >> 6));
    out += static_cast<char>(0x80 | (cpt & 0x3F));
  } else if (cpt < 0x10000) {
    out += static_cast<char>(0xE0 | (cpt >> 12));
    out += static_cast<char>(0x80 | ((cpt >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cpt & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cpt >> 18));
    out += static_cast<char>(0x80 | ((cpt >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cpt >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cpt & 0x3F));
  }
}

std::string encode_utf8(uint32_t cpt) {
  std::string s;
  append_utf8(s, cpt);
  return s;
}

namespace {

bool is_llama_whitespace(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

uint8_t compute_flags(uint32_t c) {
  uint8_t f = is_llama_whitespace(c) ? kWhitespace : 0;
  switch (u_charType(static_cast<UChar32>(c))) {
    case U_UPPERCASE_LETTER:
    case U_LOWERCASE_LETTER:
    case U_TITLECASE_LETTER:
    case U_MODIFIER_LETTER:
    case U_OTHER_LETTER:
      f |= kLetter;
      break;
    case U_DECIMAL_DIGIT_NUMBER:
    case U_LETTER_NUMBER:
    case U_OTHER_NUMBER:
      f |= kNumber;
      break;
    case U_CONNECTOR_PUNCTUATION:
    case U_DASH_PUNCTUATION:
    case U_START_PUNCTUATION:
    case U_END_PUNCTUATION:
    case U_INITIAL_PUNCTUATION:
    case U_FINAL_PUNCTUATION:
    case U_OTHER_PUNCTUATION:
      f |= kPunctuation;
      break;
    default:
      break;
  }
  return f;
}

constexpr uint32_t kMaxCpt = 0x110000;

const std::vector<uint8_t>& flag_table() {
  static const std::vector<uint8_t> table = [] {
    std::vector<uint8_t> t(kMaxCpt);
    for (uint32_t c = 0; c < kMaxCpt; ++c) t[c] = compute_flags(c);
    return t;
  }();
  return table;
}

struct ByteMap {
  std::array<uint32_t, 256> to_cpt{};
  std::array<int16_t, 512> from_cpt{};  // every mapped code point is < 512
};

const ByteMap& byte_map() {
  static const ByteMap map = [] {
    ByteMap m;
    m.from_cpt.fill(-1);
    const auto printable = [](int b) {
      return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const uint32_t cpt = printable(b) ? static_cast<uint32_t>(b) : next++;
      m.to_cpt[b] = cpt;
      m.from_cpt[cpt] = static_cast<int16_t>(b);
    }
    return m;
  }();
  return map;
}

}  // namespace

uint8_t cpt_flags(uint32_t cpt) { return cpt < kMaxCpt ? flag_table()[cpt] : 0; }

uint32_t byte_to_cpt(uint8_t byte) { return byte_map().to_cpt[byte]; }

int byte_from_cpt(uint32_t cpt) { return cpt < 512 ? byte_map().from_cpt[cpt] : -1; }

std::string bytes_to_gpt2(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char ch : bytes) append_utf8(out, byte_to_cpt(static_cast<uint8_t>(ch)));
  return out;
}

}  // namespace entropix::unicode
