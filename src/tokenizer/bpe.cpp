#include "tokenizer/bpe.h"

#include <queue>
#include <string>

#include "tokenizer/utf8.h"

namespace entropix {

namespace {

struct Symbol {
  int prev;
  int next;
  size_t begin;  // byte offset into the word
  size_t n;      // bytes; 0 once merged into its left neighbour
};

struct Bigram {
  int left;
  int right;
  std::string text;
  int rank;
};

// Lowest rank first; on ties the leftmost pair.
struct BigramOrder {
  bool operator()(const Bigram& l, const Bigram& r) const {
    return l.rank > r.rank || (l.rank == r.rank && l.left > r.left);
  }
};

// Merges one byte-encoded word; appends the surviving pieces' ids.
void merge_word(const Vocab& vocab, bool ignore_merges, const std::string& word, std::vector<int32_t>& out) {
  std::vector<Symbol> symbols;
  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  const auto text_of = [&](const Symbol& s) { return std::string_view(word).substr(s.begin, s.n); };
  const auto add_bigram = [&](int left, int right) {
    if (left == -1 || right == -1) return;
    const std::string_view l = text_of(symbols[left]);
    const std::string_view r = text_of(symbols[right]);
    const int rank = vocab.find_merge(l, r);
    if (rank < 0) return;
    std::string joined(l);
    joined += r;
    queue.push({left, right, std::move(joined), rank});
  };

  size_t offset = 0;
  if (ignore_merges && vocab.find(word) >= 0) {
    symbols.push_back({-1, -1, 0, word.size()});
    offset = word.size();
  }
  int index = 0;
  while (offset < word.size()) {
    const size_t len = std::min(word.size() - offset, unicode::utf8_len(static_cast<uint8_t>(word[offset])));
    symbols.push_back({index - 1, offset + len == word.size() ? -1 : index + 1, offset, len});
    offset += len;
    ++index;
  }
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) add_bigram(i - 1, i);

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = symbols[b.left];
    Symbol& r = symbols[b.right];
    if (l.n == 0 || r.n == 0) continue;
    if (l.n + r.n != b.text.size() || word.compare(l.begin, l.n + r.n, b.text) != 0) continue;  // outdated
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) symbols[r.next].prev = b.left;
    add_bigram(l.prev, b.left);
    add_bigram(b.left, l.next);
  }

  for (const Symbol& s : symbols) {
    if (s.n == 0) continue;
    const std::string_view piece = text_of(s);
    const int32_t id = vocab.find(piece);
    if (id >= 0) {
      out.push_back(id);
      continue;
    }
    // No token: llama.cpp looks each byte up as a one-byte string and drops misses.
    for (const char ch : piece) {
      const int32_t b = vocab.find(std::string_view(&ch, 1));
      if (b >= 0) out.push_back(b);
    }
  }
}

}  // namespace

void bpe_tokenize(const Vocab& vocab, PreTokenizerKind kind, bool ignore_merges, std::string_view text,
                  std::vector<int32_t>& out) {
  for (const std::string& word : pre_tokenize(kind, text)) {
    merge_word(vocab, ignore_merges, unicode::bytes_to_gpt2(word), out);
  }
}

}  // namespace entropix
