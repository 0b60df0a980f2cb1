#include "model/kv_cache.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/blocks.h"
#include "kernels/fp16.h"
#include "kernels/quant.h"

namespace entropix {

namespace {

// Slack pages absorb the copies made when forks write into a shared last page.
constexpr int32_t kSlackPages = 16;

int32_t pages_for(int32_t capacity) {
  return static_cast<int32_t>((int64_t{capacity} + KvCache::kPageSize - 1) / KvCache::kPageSize) + kSlackPages;
}

}  // namespace

const char* kv_type_name(KvType type) {
  switch (type) {
    case KvType::F32: return "f32";
    case KvType::F16: return "f16";
    case KvType::Q8_0: return "q8_0";
  }
  return "?";
}

KvType parse_kv_type(const std::string& name) {
  if (name == "f32") return KvType::F32;
  if (name == "f16") return KvType::F16;
  if (name == "q8_0") return KvType::Q8_0;
  throw Error("cache type '" + name + "' is not one of f32, f16, q8_0");
}

size_t kv_row_bytes(KvType type, int32_t n) {
  switch (type) {
    case KvType::F32: return size_t(n) * sizeof(float);
    case KvType::F16: return size_t(n) * sizeof(uint16_t);
    case KvType::Q8_0: return size_t(n) / kQK8_0 * sizeof(BlockQ8_0);
  }
  return 0;
}

uint64_t KvCache::bytes_for(int32_t n_layer, int32_t kv_dim, int32_t capacity, KvType type,
                            const SlidingWindow& window, int32_t batch) {
  int64_t n_windowed = 0;
  if (window.positions > 0) n_windowed = std::count_if(window.layers.begin(), window.layers.end(), [](uint8_t w) { return w != 0; });
  const uint64_t page = uint64_t(kPageSize) * 2 * kv_row_bytes(type, kv_dim);
  const int32_t windowed_positions = window.positions > 0 ? std::min<int64_t>(capacity, int64_t{window.positions} + batch + 2 * kPageSize) : 0;
  return uint64_t(pages_for(capacity)) * page * uint64_t(n_layer - n_windowed) +
         uint64_t(pages_for(windowed_positions)) * page * uint64_t(n_windowed);
}

KvCache::KvCache(int32_t n_layer, int32_t kv_dim, int32_t capacity, KvType type, const SlidingWindow& window,
                 int32_t heads)
    : n_layer_(n_layer),
      kv_dim_(kv_dim),
      capacity_(capacity),
      heads_(heads),
      head_dim_(heads > 0 ? kv_dim / heads : 0),
      type_(type),
      elem_bytes_(type == KvType::F32 ? sizeof(float) : type == KvType::F16 ? sizeof(uint16_t) : 1),
      row_bytes_(kv_row_bytes(type, kv_dim)),
      head_bytes_(kv_row_bytes(type, head_dim_)) {
  if (capacity <= 0) throw Error("KV cache capacity must be positive, got " + std::to_string(capacity));
  if (heads <= 0 || kv_dim % heads != 0) {
    throw Error("a KV cache row of " + std::to_string(kv_dim) + " elements does not split into " +
                std::to_string(heads) + " heads");
  }
  if (type == KvType::Q8_0 && head_dim_ % kQK8_0 != 0) {
    throw Error("a q8_0 KV cache needs heads in multiples of 32 elements, not " + std::to_string(head_dim_));
  }
  if (window.positions < 0 || (window.positions > 0 && window.layers.size() != static_cast<size_t>(n_layer))) {
    throw Error("a sliding window of " + std::to_string(window.positions) + " positions needs one flag per layer");
  }
  layer_class_.resize(static_cast<size_t>(n_layer));
  layer_index_.resize(static_cast<size_t>(n_layer));
  for (int32_t l = 0; l < n_layer; ++l) {
    const int kind = window.positions > 0 && window.layers[static_cast<size_t>(l)] ? kWindowed : kFull;
    layer_class_[static_cast<size_t>(l)] = kind;
    layer_index_[static_cast<size_t>(l)] = n_layers_[kind]++;
  }
  if (n_layers_[kWindowed] > 0) window_ = window.positions;
  n_pages_ = pages_for(capacity);
  // Mapped, not written: pages take memory as they are first used, and the free lists
  // hand out the most recently freed first, so the pages touched are the most ever in use.
  for (int kind : {kFull, kWindowed}) {
    const size_t bytes = size_t(n_layers_[kind]) * size_t(n_pages_) * kPageSize * row_bytes_;
    k_[kind] = PageBuffer(bytes);
    v_[kind] = PageBuffer(bytes);
  }
  refs_.assign(static_cast<size_t>(n_pages_), 0);
  free_pages_.reserve(static_cast<size_t>(n_pages_));
  for (int32_t p = n_pages_ - 1; p >= 0; --p) free_pages_.push_back(p);
  if (n_layers_[kWindowed] > 0) {
    companion_.assign(static_cast<size_t>(n_pages_), -1);
    companion_refs_.assign(static_cast<size_t>(n_pages_), 0);
    free_companions_ = free_pages_;
  }
}

KvCache::Sequence& KvCache::live_seq(int32_t seq) {
  if (seq < 0 || static_cast<size_t>(seq) >= seqs_.size() || !seqs_[static_cast<size_t>(seq)].live) {
    throw Error("sequence " + std::to_string(seq) + " does not exist");
  }
  return seqs_[static_cast<size_t>(seq)];
}

const KvCache::Sequence& KvCache::live_seq(int32_t seq) const {
  return const_cast<KvCache*>(this)->live_seq(seq);
}

bool KvCache::is_live(int32_t seq) const {
  return seq >= 0 && static_cast<size_t>(seq) < seqs_.size() && seqs_[static_cast<size_t>(seq)].live;
}

int32_t KvCache::length(int32_t seq) const { return live_seq(seq).length; }

int32_t KvCache::new_sequence() {
  int32_t id;
  if (!free_seq_ids_.empty()) {
    id = free_seq_ids_.back();
    free_seq_ids_.pop_back();
  } else {
    id = static_cast<int32_t>(seqs_.size());
    seqs_.emplace_back();
  }
  Sequence& s = seqs_[static_cast<size_t>(id)];
  s.live = true;
  s.length = 0;
  s.pages.clear();
  s.window_from = 0;
  return id;
}

int32_t KvCache::fork(int32_t parent) {
  live_seq(parent);
  int32_t child = new_sequence();
  Sequence& p = seqs_[static_cast<size_t>(parent)];
  Sequence& c = seqs_[static_cast<size_t>(child)];
  c.pages = p.pages;
  c.length = p.length;
  c.window_from = p.window_from;
  for (size_t i = 0; i < c.pages.size(); ++i) {
    const int32_t page = c.pages[i];
    ++refs_[static_cast<size_t>(page)];
    if (window_ > 0 && i >= static_cast<size_t>(c.window_from)) ++companion_refs_[static_cast<size_t>(page)];
  }
  return child;
}

void KvCache::free_sequence(int32_t seq) {
  Sequence& s = live_seq(seq);
  for (size_t i = 0; i < s.pages.size(); ++i) release(s.pages[i], i >= static_cast<size_t>(s.window_from));
  s.pages.clear();
  s.length = 0;
  s.window_from = 0;
  s.live = false;
  free_seq_ids_.push_back(seq);
}

int32_t KvCache::window_keep_from(int32_t length) const {
  // The next position, `length`, reads from length - window + 1.
  return std::max(0, length - window_ + 1 - kPageSize) / kPageSize;
}

void KvCache::truncate(int32_t seq, int32_t length) {
  Sequence& s = live_seq(seq);
  if (length < 0 || length > s.length) {
    throw Error("cannot truncate sequence " + std::to_string(seq) + " of length " + std::to_string(s.length) +
                " to " + std::to_string(length));
  }
  if (window_ > 0 && length > 0 && std::max(0, length - window_ + 1) / kPageSize < s.window_from) {
    throw Error("cannot truncate sequence " + std::to_string(seq) + " to " + std::to_string(length) +
                " positions: its sliding-window layers no longer hold positions before " +
                std::to_string(s.window_from * kPageSize) + "; read it again from the start");
  }
  size_t keep = static_cast<size_t>((length + kPageSize - 1) / kPageSize);
  while (s.pages.size() > keep) {
    release(s.pages.back(), s.pages.size() - 1 >= static_cast<size_t>(s.window_from));
    s.pages.pop_back();
  }
  if (length == 0) s.window_from = 0;
  s.length = length;
}

void KvCache::trim_window(int32_t seq) {
  Sequence& s = live_seq(seq);
  if (window_ <= 0) return;
  const int32_t keep_from = std::min(window_keep_from(s.length), static_cast<int32_t>(s.pages.size()));
  for (; s.window_from < keep_from; ++s.window_from) release_window(s.pages[static_cast<size_t>(s.window_from)]);
}

int32_t KvCache::free_positions() const {
  const int32_t reclaimable = reclaimer_ ? reclaimer_->reclaimable_pages() : 0;
  return (static_cast<int32_t>(free_pages_.size()) + reclaimable) * kPageSize;
}

void KvCache::set_reclaimer(PageReclaimer* reclaimer) {
  if (reclaimer && reclaimer_ && reclaimer != reclaimer_) throw Error("the KV cache already has a page reclaimer");
  reclaimer_ = reclaimer;
}

int32_t KvCache::alloc_page() {
  if (free_pages_.empty() && reclaimer_) reclaimer_->reclaim(1);
  if (free_pages_.empty()) {
    throw Error("KV cache is full (" + std::to_string(capacity_) + " positions); raise the context size with -c");
  }
  // Companions are never more than pages (each belongs to one page), so one is free
  // whenever a page is.
  if (window_ > 0 && free_companions_.empty()) throw Error("KV cache: no companion page is free");
  int32_t page = free_pages_.back();
  free_pages_.pop_back();
  refs_[static_cast<size_t>(page)] = 1;
  if (window_ > 0) {
    companion_[static_cast<size_t>(page)] = free_companions_.back();
    free_companions_.pop_back();
    companion_refs_[static_cast<size_t>(page)] = 1;
  }
  return page;
}

void KvCache::check_used(int32_t page) const {
  if (page < 0 || page >= n_pages_ || refs_[static_cast<size_t>(page)] <= 0) {
    throw Error("KV page " + std::to_string(page) + " is not in use (the cache has " + std::to_string(n_pages_) +
                " pages)");
  }
}

void KvCache::retain_page(int32_t page) {
  check_used(page);
  ++refs_[static_cast<size_t>(page)];
  if (window_ > 0 && companion_[static_cast<size_t>(page)] >= 0) ++companion_refs_[static_cast<size_t>(page)];
}

// A holder other than a sequence kept the companion if the page had one (it can only lose
// it once every holder that kept it let go).
void KvCache::release_page(int32_t page) {
  check_used(page);
  release(page, window_ > 0 && companion_[static_cast<size_t>(page)] >= 0);
}

void KvCache::release_window(int32_t page) {
  const auto p = static_cast<size_t>(page);
  if (companion_[p] < 0 || companion_refs_[p] <= 0) {
    throw Error("KV page " + std::to_string(page) + " has no companion to let go");
  }
  if (--companion_refs_[p] == 0) {
    free_companions_.push_back(companion_[p]);
    companion_[p] = -1;
  }
}

void KvCache::release(int32_t page, bool with_window) {
  check_used(page);
  if (window_ > 0 && with_window) release_window(page);
  if (--refs_[static_cast<size_t>(page)] == 0) {
    free_pages_.push_back(page);
    // Every holder of the page let go of it, so none keeps its companion any more.
    if (window_ > 0 && companion_[static_cast<size_t>(page)] >= 0) {
      free_companions_.push_back(companion_[static_cast<size_t>(page)]);
      companion_[static_cast<size_t>(page)] = -1;
      companion_refs_[static_cast<size_t>(page)] = 0;
    }
  }
}

int32_t KvCache::usable_length(std::span<const int32_t> pages, int32_t length) const {
  if (window_ <= 0) return length;
  int32_t n = length;
  while (n > 0) {
    // Position n reads [n - window + 1, n): pages lo..hi.
    const int32_t lo = std::max(0, n - window_ + 1) / kPageSize, hi = (n - 1) / kPageSize;
    int32_t missing = -1;
    for (int32_t i = hi; i >= lo; --i) {
      if (companion_[static_cast<size_t>(pages[static_cast<size_t>(i)])] < 0) {
        missing = i;
        break;
      }
    }
    if (missing < 0) break;
    n = missing * kPageSize;  // the longest that reads none of the missing page
  }
  return n;
}

int32_t KvCache::sequence_from_pages(std::span<const int32_t> pages, int32_t length) {
  if (length < 0 || length > capacity_ || pages.size() != static_cast<size_t>((length + kPageSize - 1) / kPageSize)) {
    throw Error("a sequence of " + std::to_string(length) + " positions needs " +
                std::to_string((length + kPageSize - 1) / kPageSize) + " pages, got " + std::to_string(pages.size()));
  }
  for (int32_t page : pages) check_used(page);
  if (usable_length(pages, length) != length) {
    throw Error("a sequence of " + std::to_string(length) +
                " positions cannot start from pages whose sliding-window layers let go of positions it reads");
  }
  // The companions it keeps: from the page of slack on, as far as they are there.
  int32_t window_from = 0;
  if (window_ > 0) {
    window_from = std::min(window_keep_from(length), static_cast<int32_t>(pages.size()));
    while (window_from < static_cast<int32_t>(pages.size()) && companion_[static_cast<size_t>(pages[static_cast<size_t>(window_from)])] < 0) {
      ++window_from;
    }
  }
  int32_t id = new_sequence();
  Sequence& s = seqs_[static_cast<size_t>(id)];
  s.pages.assign(pages.begin(), pages.end());
  s.length = length;
  s.window_from = window_from;
  for (size_t i = 0; i < pages.size(); ++i) {
    ++refs_[static_cast<size_t>(pages[i])];
    if (window_ > 0 && i >= static_cast<size_t>(window_from)) ++companion_refs_[static_cast<size_t>(pages[i])];
  }
  return id;
}

namespace {

void store(KvType type, uint8_t* dst, float x) {
  if (type == KvType::F32) {
    std::memcpy(dst, &x, sizeof x);
  } else {
    const uint16_t h = f32_to_fp16(x);
    std::memcpy(dst, &h, sizeof h);
  }
}

float load(KvType type, const uint8_t* src) {
  if (type == KvType::F32) {
    float x;
    std::memcpy(&x, src, sizeof x);
    return x;
  }
  uint16_t h;
  std::memcpy(&h, src, sizeof h);
  return fp16_to_f32(h);
}

}  // namespace

void KvCache::write_key(int32_t layer, int32_t slot, const float* k) {
  const size_t step = size_t(kPageSize) * elem_bytes_;
  if (type_ != KvType::Q8_0) {
    for (int32_t h = 0; h < heads_; ++h) {
      uint8_t* first = key_bytes(layer, slot, h);
      const float* kh = k + size_t(h) * head_dim_;
      for (int32_t d = 0; d < head_dim_; ++d) store(type_, first + size_t(d) * step, kh[d]);
    }
    return;
  }
  // Quantized as a row, then each element and each block's scale put in its column.
  thread_local std::vector<BlockQ8_0> blocks;
  blocks.resize(size_t(kv_dim_) / kQK8_0);
  quantize_row(GgmlType::Q8_0, k, blocks.data(), kv_dim_);
  const size_t head_blocks = size_t(head_dim_) / kQK8_0;
  for (int32_t h = 0; h < heads_; ++h) {
    uint8_t* first = key_bytes(layer, slot, h);
    auto* scales = const_cast<uint16_t*>(key_scales(layer, slot / kPageSize, h)) + slot % kPageSize;
    for (size_t b = 0; b < head_blocks; ++b) {
      const BlockQ8_0& block = blocks[size_t(h) * head_blocks + b];
      std::memcpy(scales + b * kPageSize, &block.d, sizeof(uint16_t));
      for (int32_t l = 0; l < kQK8_0; ++l) first[(b * kQK8_0 + size_t(l)) * step] = static_cast<uint8_t>(block.qs[l]);
    }
  }
}

void KvCache::write_value(int32_t layer, int32_t slot, const float* v) {
  for (int32_t h = 0; h < heads_; ++h) {
    uint8_t* row = value_bytes(layer, slot, h);
    const float* vh = v + size_t(h) * head_dim_;
    if (type_ == KvType::F32) {
      std::memcpy(row, vh, size_t(head_dim_) * sizeof(float));
    } else if (type_ == KvType::Q8_0) {
      quantize_row(GgmlType::Q8_0, vh, row, head_dim_);
    } else {
      for (int32_t d = 0; d < head_dim_; ++d) store(type_, row + size_t(d) * elem_bytes_, vh[d]);
    }
  }
}

float KvCache::key(int32_t layer, int32_t slot, int32_t d) const {
  const int32_t h = d / head_dim_, e = d % head_dim_;
  const uint8_t* x = key_bytes(layer, slot, h) + size_t(e) * kPageSize * elem_bytes_;
  if (type_ != KvType::Q8_0) return load(type_, x);
  const float q = static_cast<float>(static_cast<int8_t>(*x));
  return q * fp16_to_f32(key_scales(layer, slot / kPageSize, h)[size_t(e / kQK8_0) * kPageSize + size_t(slot % kPageSize)]);
}

float KvCache::value(int32_t layer, int32_t slot, int32_t d) const {
  const int32_t h = d / head_dim_, e = d % head_dim_;
  const uint8_t* row = value_bytes(layer, slot, h);
  if (type_ != KvType::Q8_0) return load(type_, row + size_t(e) * elem_bytes_);
  const auto* block = reinterpret_cast<const BlockQ8_0*>(row) + e / kQK8_0;
  return float(block->qs[e % kQK8_0]) * fp16_to_f32(block->d);
}

void KvCache::copy_page(int32_t from, int32_t to, int32_t rows) {
  const size_t head_page_bytes = size_t(kPageSize) * head_bytes_;
  for (int32_t l = 0; l < n_layer_; ++l) {
    const int kind = class_of(l);
    const int32_t src = stored_page(l, from), dst = stored_page(l, to);
    for (int32_t h = 0; h < heads_; ++h) {
      // Keys transposed: the head's whole part (the positions past `rows` are written later).
      std::memcpy(k_[kind].data() + head_page_offset(l, h, dst), k_[kind].data() + head_page_offset(l, h, src),
                  head_page_bytes);
      std::memcpy(v_[kind].data() + head_page_offset(l, h, dst), v_[kind].data() + head_page_offset(l, h, src),
                  size_t(rows) * head_bytes_);
    }
  }
}

int32_t KvCache::append(int32_t seq) {
  Sequence& s = live_seq(seq);
  int32_t pos = s.length;
  size_t page_index = static_cast<size_t>(pos / kPageSize);
  int32_t offset = pos % kPageSize;
  if (page_index == s.pages.size()) {
    s.pages.push_back(alloc_page());
  } else if (refs_[static_cast<size_t>(s.pages[page_index])] > 1) {
    // Another sequence still reads this page: give this one a private copy of the
    // positions before `offset` (at most one page, whatever the prefix length). The
    // sequence keeps the companion of its last page (trim_window() leaves a page of slack).
    int32_t old_page = s.pages[page_index];
    int32_t new_page = alloc_page();
    copy_page(old_page, new_page, offset);
    release(old_page, true);
    s.pages[page_index] = new_page;
  }
  s.length = pos + 1;
  return s.pages[page_index] * kPageSize + offset;
}

int32_t KvCache::pages_to_append(int32_t seq, int32_t n) const {
  const Sequence& s = live_seq(seq);
  if (n <= 0) return 0;
  const int32_t fresh = (s.length + n + kPageSize - 1) / kPageSize - (s.length + kPageSize - 1) / kPageSize;
  const bool copies_last = s.length % kPageSize != 0 && refs_[static_cast<size_t>(s.pages.back())] > 1;
  return fresh + (copies_last ? 1 : 0);
}

int32_t KvCache::shared_pages() const {
  return static_cast<int32_t>(std::count_if(refs_.begin(), refs_.end(), [](int32_t r) { return r > 1; }));
}

}  // namespace entropix
