#include "tokenizer/spm.h"

#include <map>
#include <queue>
#include <string>

#include "tokenizer/utf8.h"

namespace entropix {

namespace {

struct Symbol {
  int prev;
  int next;
  size_t begin;  // byte offset into the text
  size_t n;      // bytes; 0 once merged into its left neighbour
};

struct Bigram {
  int left;
  int right;
  float score;
  size_t size;
};

// Highest score first; on ties the leftmost pair.
struct BigramOrder {
  bool operator()(const Bigram& l, const Bigram& r) const {
    return l.score < r.score || (l.score == r.score && l.left > r.left);
  }
};

class Session {
 public:
  Session(const Vocab& vocab, std::string_view text) : vocab_(vocab), text_(text) {}

  void run(std::vector<int32_t>& out) {
    size_t offs = 0;
    int index = 0;
    while (offs < text_.size()) {
      const size_t len = std::min(unicode::utf8_len(static_cast<uint8_t>(text_[offs])), text_.size() - offs);
      symbols_.push_back({index - 1, offs + len == text_.size() ? -1 : index + 1, offs, len});
      offs += len;
      ++index;
    }
    if (symbols_.empty()) return;
    for (int i = 1; i < static_cast<int>(symbols_.size()); ++i) try_add(i - 1, i);
    while (!queue_.empty()) {
      const Bigram b = queue_.top();
      queue_.pop();
      Symbol& l = symbols_[b.left];
      Symbol& r = symbols_[b.right];
      if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;
      l.n += r.n;
      r.n = 0;
      l.next = r.next;
      if (r.next >= 0) symbols_[r.next].prev = b.left;
      try_add(l.prev, b.left);
      try_add(b.left, l.next);
    }
    for (int i = 0; i != -1; i = symbols_[i].next) resegment(symbols_[i], out);
  }

 private:
  std::string_view piece(const Symbol& s) const { return text_.substr(s.begin, s.n); }

  void try_add(int left, int right) {
    if (left == -1 || right == -1) return;
    const std::string joined(text_.substr(symbols_[left].begin, symbols_[left].n + symbols_[right].n));
    const int32_t id = vocab_.find(joined);
    if (id < 0) return;
    queue_.push({left, right, vocab_.score[id], joined.size()});
    rev_merge_[joined] = {left, right};
  }

  void resegment(const Symbol& s, std::vector<int32_t>& out) {
    const std::string text(piece(s));
    const int32_t id = vocab_.find(text);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
    const auto it = rev_merge_.find(text);
    if (it == rev_merge_.end()) {
      for (const char ch : text) {
        const int32_t b = spm_byte_token(vocab_, static_cast<uint8_t>(ch));
        if (b >= 0) out.push_back(b);
      }
      return;
    }
    const auto [l, r] = it->second;
    resegment(symbols_[l], out);
    resegment(symbols_[r], out);
  }

  const Vocab& vocab_;
  std::string_view text_;
  std::vector<Symbol> symbols_;
  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue_;
  std::map<std::string, std::pair<int, int>> rev_merge_;
};

}  // namespace

int32_t spm_byte_token(const Vocab& vocab, uint8_t byte) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  const char name[7] = {'<', '0', 'x', kHex[byte >> 4], kHex[byte & 15], '>', 0};
  int32_t id = vocab.find(name);
  if (id >= 0) return id;
  id = vocab.find(std::string(1, static_cast<char>(byte)));
  return id >= 0 ? id : vocab.unk;
}

void spm_tokenize(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out) {
  Session(vocab, text).run(out);
}

}  // namespace entropix
