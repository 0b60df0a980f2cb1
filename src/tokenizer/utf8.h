// UTF-8 and Unicode helpers for the tokenizers, with llama.cpp's exact semantics:
// lenient decoding (invalid bytes become U+FFFD), the character classes its
// pre-tokenizer regexes use, and GPT-2's byte <-> printable-character mapping.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace entropix::unicode {

inline constexpr uint32_t kReplacement = 0xFFFD;

// Length of the UTF-8 sequence a lead byte announces (1 for ASCII and stray
// continuation bytes, 2/3/4 by the high bits), as llama.cpp's unicode_len_utf8.
size_t utf8_len(uint8_t lead);

// Decodes text into code points. An invalid or truncated sequence yields one
// U+FFFD and skips one byte; code points above U+10FFFF become U+FFFD too.
std::vector<uint32_t> decode_utf8(std::string_view text);

// Appends the UTF-8 encoding of a code point (<= U+10FFFF).
void append_utf8(std::string& out, uint32_t cpt);
std::string encode_utf8(uint32_t cpt);

// Unicode general-category classes (ICU) plus llama.cpp's whitespace set.
enum CptFlag : uint8_t {
  kLetter = 1,       // \p{L}
  kNumber = 2,       // \p{N}
  kPunctuation = 4,  // \p{P}
  kWhitespace = 8,   // \s as llama.cpp defines it (Unicode White_Space)
};
uint8_t cpt_flags(uint32_t cpt);

// GPT-2 byte-level encoding: each byte maps to one printable code point.
uint32_t byte_to_cpt(uint8_t byte);
// The byte a GPT-2 code point stands for; -1 when the code point is not in the map.
int byte_from_cpt(uint32_t cpt);
// Text bytes -> GPT-2 code points, UTF-8 encoded.
std::string bytes_to_gpt2(std::string_view bytes);

}  // namespace entropix::unicode
