#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <cctype>

#include "core/error.h"
#include "tokenizer/bpe.h"
#include "tokenizer/spm.h"
#include "tokenizer/token_trie.h"
#include "tokenizer/utf8.h"

namespace entropix {

namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

uint32_t attr_of_type(int32_t type) {
  switch (static_cast<TokenType>(type)) {
    case TokenType::Unknown: return kAttrUnknown;
    case TokenType::Unused: return kAttrUnused;
    case TokenType::Normal: return kAttrNormal;
    case TokenType::Control: return kAttrControl;
    case TokenType::UserDefined: return kAttrUserDefined;
    case TokenType::Byte: return kAttrByte;
    default: return kAttrUndefined;
  }
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  for (size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
    out.append(s, pos, hit - pos);
    out += to;
  }
  out.append(s, pos);
  s = std::move(out);
}

bool c_isspace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void check_vocab_sizes(const VocabData& d) {
  const size_t n = d.tokens.size();
  if (n == 0) throw Error("tokenizer.ggml.tokens: expected a non-empty token list, found none");
  if (!d.scores.empty() && d.scores.size() != n)
    throw Error("tokenizer.ggml.scores: expected " + std::to_string(n) + " scores, found " + std::to_string(d.scores.size()));
  if (!d.token_types.empty() && d.token_types.size() != n)
    throw Error("tokenizer.ggml.token_type: expected " + std::to_string(n) + " types, found " +
                std::to_string(d.token_types.size()));
}

// Token texts (an empty one named "[EMPTY_<id>]"), scores, attributes from the token
// types, and for BPE the merge ranks; takes the token and score lists from `d`.
void fill_vocab(Vocab& v, VocabData& d, bool spm) {
  const size_t n = d.tokens.size();
  v.text = std::move(d.tokens);
  v.score = d.scores.empty() ? std::vector<float>(n, 0.0f) : std::move(d.scores);
  v.attr.assign(n, kAttrNormal);
  v.id_of.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (v.text[i].empty()) v.text[i] = "[EMPTY_" + std::to_string(i) + "]";
    v.id_of[v.text[i]] = static_cast<int32_t>(i);
    if (!d.token_types.empty()) v.attr[i] = attr_of_type(d.token_types[i]);
  }
  if (spm) return;
  v.merge_rank.reserve(d.merges.size());
  for (size_t i = 0; i < d.merges.size(); ++i) {
    const std::string& m = d.merges[i];
    const size_t sp = m.find(' ', 1);
    const std::string_view first = sp == std::string::npos ? std::string_view() : std::string_view(m).substr(0, sp);
    const std::string_view second = sp == std::string::npos ? std::string_view() : std::string_view(m).substr(sp + 1);
    v.merge_rank.emplace(Vocab::merge_key(first, second), static_cast<int32_t>(i));
  }
}

// Per-model attributes llama.cpp sets by pre-tokenizer or model name: lstrip on
// jina-v2's <mask>, rstrip on Phi-3's special tokens.
void set_attributes_by_name(Vocab& v, const std::string& pre, std::string name, std::span<const int32_t> special) {
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  const auto set_attr = [&](std::string_view text, uint32_t bit, bool on) {
    const int32_t id = v.find(text);
    if (id >= 0) v.attr[id] = on ? (v.attr[id] | bit) : (v.attr[id] & ~bit);
  };
  if (pre.find("jina-v2-de") != std::string::npos || pre.find("jina-v2-es") != std::string::npos ||
      pre.find("jina-v2-code") != std::string::npos) {
    set_attr("<mask>", kAttrLstrip, true);
  } else if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
    for (const int32_t id : special) v.attr[id] |= kAttrRstrip;
    set_attr("</s>", kAttrRstrip, true);
    for (const std::string_view s : {"<unk>", "<s>", "<|endoftext|>"}) set_attr(s, kAttrRstrip, false);
  }
}

// The bytes a token stands for: special tokens as their text, SentencePiece pieces
// with U+2581 as a space and <0xXX> tokens as that byte, byte-level BPE pieces
// mapped back from GPT-2's byte characters; nothing for other tokens.
std::string piece_of(const std::string& text, uint32_t attr, bool spm) {
  std::string piece;
  if (attr & (kAttrUnknown | kAttrControl | kAttrUserDefined)) {
    piece = text;
  } else if (spm && (attr & kAttrNormal)) {
    piece = text;
    replace_all(piece, kSpace, " ");
  } else if (spm && (attr & kAttrByte)) {
    if (text.size() >= 5 && hex_value(text[3]) >= 0 && hex_value(text[4]) >= 0)
      piece = std::string(1, static_cast<char>(hex_value(text[3]) * 16 + hex_value(text[4])));
  } else if (!spm && (attr & kAttrNormal)) {
    for (const uint32_t cpt : unicode::decode_utf8(text)) {
      const int b = unicode::byte_from_cpt(cpt);
      if (b >= 0) {
        piece += static_cast<char>(b);
      } else {
        unicode::append_utf8(piece, cpt);  // not a GPT-2 byte character: keep it as text
      }
    }
  }
  return piece;
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_vocab(VocabData d) {
  check_vocab_sizes(d);
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  t->set_type_defaults(d);
  fill_vocab(t->vocab_, d, t->spm_);
  t->set_special_tokens(d);
  set_attributes_by_name(t->vocab_, d.pre, d.name, t->special_);
  t->pieces_.resize(t->vocab_.text.size());
  for (size_t id = 0; id < t->pieces_.size(); ++id)
    t->pieces_[id] = piece_of(t->vocab_.text[id], t->vocab_.attr[id], t->spm_);
  return t;
}

void Tokenizer::set_type_defaults(const VocabData& d) {
  model_ = d.model;
  pre_ = d.pre;
  if (d.model == "llama") {
    spm_ = true;
    bos_ = 1;
    eos_ = 2;
    vocab_.unk = 0;
    add_bos_ = true;
    add_space_prefix_ = true;
  } else if (d.model == "gpt2") {
    pre_info_ = pre_tokenizer_from_name(d.pre);
    bos_ = pre_info_.clear_bos ? -1 : 11;
    eos_ = 11;
    add_bos_ = pre_info_.add_bos;
  } else {
    throw Error("tokenizer.ggml.model: expected \"llama\" or \"gpt2\", found \"" + d.model + "\"");
  }
}

void Tokenizer::set_special_tokens(const VocabData& d) {
  Vocab& v = vocab_;
  const int32_t n_vocab = v.n_vocab();
  const auto pick = [&](const std::optional<int32_t>& given, int32_t fallback) {
    const int32_t id = (given && *given >= 0 && *given < n_vocab) ? *given : fallback;
    return id < n_vocab ? id : -1;
  };
  bos_ = pick(d.bos, bos_);
  eos_ = pick(d.eos, eos_);
  v.unk = pick(d.unk, v.unk);
  int32_t eot = pick(d.eot, -1), eom = pick(d.eom, -1);
  int32_t fim_pre = pick(d.fim_pre, -1), fim_suf = pick(d.fim_suf, -1), fim_mid = pick(d.fim_mid, -1);
  int32_t fim_pad = pick(d.fim_pad, -1), fim_rep = pick(d.fim_rep, -1), fim_sep = pick(d.fim_sep, -1);
  if (d.add_bos) add_bos_ = *d.add_bos;
  if (d.add_eos) add_eos_ = *d.add_eos;
  if (d.add_space_prefix) add_space_prefix_ = *d.add_space_prefix;

  // llama.cpp finds unset end-of-turn / fill-in-the-middle tokens by their text and
  // forces them to control type (it takes the first hit of a hash map; we take the lowest id).
  const auto detect = [&](int32_t& id, std::initializer_list<std::string_view> texts) {
    if (id >= 0) return;
    for (const auto s : texts) {
      const int32_t hit = v.find(s);
      if (hit >= 0 && (id < 0 || hit < id)) id = hit;
    }
    if (id >= 0) v.attr[id] = kAttrControl;
  };
  detect(eot, {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>",
               "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"});
  detect(eom, {"<|eom_id|>"});
  detect(fim_pre, {"<|fim_prefix|>", "<fim-prefix>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "begin\xEF\xBD\x9C>", "<PRE>"});
  detect(fim_suf, {"<|fim_suffix|>", "<fim-suffix>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81hole\xEF\xBD\x9C>", "<SUF>"});
  detect(fim_mid, {"<|fim_middle|>", "<fim-middle>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "end\xEF\xBD\x9C>", "<MID>"});
  detect(fim_pad, {"<|fim_pad|>", "<fim-pad>", "<PAD>"});
  detect(fim_rep, {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>"});
  detect(fim_sep, {"<|file_sep|>"});

  for (const int32_t id : {fim_pad, fim_rep, fim_sep, eos_, eot, eom})
    if (id >= 0) eog_.insert(id);
  for (const std::string_view s :
       {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>"}) {
    const int32_t id = v.find(s);
    if (id < 0) continue;
    eog_.insert(id);
    if (!(v.attr[id] & kAttrControl)) v.attr[id] = kAttrControl;
  }

  for (int32_t id = 0; id < n_vocab; ++id)
    if (v.attr[id] & (kAttrControl | kAttrUserDefined | kAttrUnknown)) special_.push_back(id);
  std::stable_sort(special_.begin(), special_.end(),
                   [&](int32_t a, int32_t b) { return v.text[a].size() > v.text[b].size(); });
}

std::vector<Tokenizer::Fragment> Tokenizer::partition(std::string_view text, bool parse_special) const {
  std::vector<Fragment> frags;
  if (!text.empty()) frags.push_back({-1, 0, text.size()});
  for (const int32_t id : special_) {
    const uint32_t a = vocab_.attr[id];
    if (!parse_special && (a & (kAttrControl | kAttrUnknown))) continue;
    const std::string& tok = vocab_.text[id];
    std::vector<Fragment> next;
    next.reserve(frags.size());
    for (const Fragment& f : frags) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      size_t b = f.begin, n = f.size;
      while (true) {
        const size_t m = text.substr(b, n).find(tok);
        if (m == std::string_view::npos) {
          if (n > 0) next.push_back({-1, b, n});
          break;
        }
        size_t left = m;
        if (a & kAttrLstrip)
          while (left > 0 && c_isspace(text[b + left - 1])) --left;
        if (left > 0) next.push_back({-1, b, left});
        next.push_back({id, 0, 0});
        size_t rb = b + m + tok.size(), rn = n - m - tok.size();
        if (a & kAttrRstrip)
          while (rn > 0 && c_isspace(text[rb])) ++rb, --rn;
        b = rb;
        n = rn;
      }
    }
    frags = std::move(next);
  }
  return frags;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  std::vector<int32_t> out;
  const std::vector<Fragment> frags = partition(text, parse_special);
  if (add_special && add_bos_ && bos_ >= 0) out.push_back(bos_);
  bool prev_special = true;  // SPM: the first raw fragment gets the space prefix
  for (const Fragment& f : frags) {
    if (f.token >= 0) {
      out.push_back(f.token);
      prev_special = true;
      continue;
    }
    const std::string_view raw = text.substr(f.begin, f.size);
    if (spm_) {
      std::string s;
      if (add_space_prefix_ && prev_special) s = " ";
      s += raw;
      replace_all(s, " ", kSpace);
      spm_tokenize(vocab_, s, out);
      prev_special = false;
    } else {
      bpe_tokenize(vocab_, pre_info_.kind, pre_info_.ignore_merges, raw, out);
    }
  }
  if (add_special && add_eos_ && eos_ >= 0) out.push_back(eos_);
  return out;
}

std::string Tokenizer::token_to_piece(int32_t id) const {
  if (id < 0 || id >= n_vocab()) return {};
  return pieces_[id];
}

std::string_view Tokenizer::display_piece(int32_t id) const {
  if (id < 0 || id >= n_vocab()) return {};
  if (vocab_.attr[id] & (kAttrControl | kAttrUnknown)) return {};
  return pieces_[id];
}

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  bool strip = spm_ && add_space_prefix_;
  for (const int32_t id : ids) {
    std::string_view p = display_piece(id);
    if (p.empty()) continue;
    if (strip && p.front() == ' ') p.remove_prefix(1);
    strip = false;
    out += p;
  }
  return out;
}

const std::string& Tokenizer::token_text(int32_t id) const {
  if (id < 0 || id >= n_vocab())
    throw Error("token id " + std::to_string(id) + " out of range: vocabulary has " + std::to_string(n_vocab()) + " tokens");
  return vocab_.text[id];
}

std::shared_ptr<const TokenTrie> Tokenizer::token_trie() const {
  std::lock_guard<std::mutex> lock(trie_mutex_);
  if (!trie_) trie_ = std::make_shared<const TokenTrie>(*this);
  return trie_;
}

bool Tokenizer::is_control(int32_t id) const {
  return id >= 0 && id < n_vocab() && (vocab_.attr[id] & kAttrControl) != 0;
}

std::shared_ptr<const std::vector<bool>> Tokenizer::tokens_ending_with(std::string_view chars) const {
  std::lock_guard<std::mutex> lock(ends_mutex_);
  if (auto it = ends_.find(chars); it != ends_.end()) return it->second;
  auto ends = std::make_shared<std::vector<bool>>(static_cast<size_t>(n_vocab()), false);
  for (int32_t id = 0; id < n_vocab(); ++id) {
    const std::string piece = token_to_piece(id);
    (*ends)[static_cast<size_t>(id)] = !piece.empty() && chars.find(piece.back()) != std::string_view::npos;
  }
  ends_.emplace(std::string(chars), ends);
  return ends;
}

}  // namespace entropix
