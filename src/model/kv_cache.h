// Paged key/value cache. Each sequence is a list of fixed-size pages; a fork copies
// the parent's page list and shares the pages (reference counted), so a common
// prefix is stored once. Writing into a shared, partly filled page copies that one
// page first (copy on write), never the prefix.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace entropix {

class KvCache {
 public:
  static constexpr int32_t kPageSize = 16;  // positions per page

  // capacity: positions for all sequences together; kv_dim = n_head_kv * head_dim.
  KvCache(int32_t n_layer, int32_t kv_dim, int32_t capacity);

  int32_t new_sequence();
  int32_t fork(int32_t parent);
  void free_sequence(int32_t seq);
  void truncate(int32_t seq, int32_t length);
  bool is_live(int32_t seq) const;
  int32_t length(int32_t seq) const;
  int32_t free_positions() const { return static_cast<int32_t>(free_pages_.size()) * kPageSize; }
  int32_t capacity() const { return capacity_; }

  // Appends one position to the sequence and returns its slot (copying a shared
  // last page first). Throws Error when the cache is full.
  int32_t append(int32_t seq);
  // Slot of an existing position of a sequence.
  int32_t slot(int32_t seq, int32_t pos) const {
    const auto& pages = seqs_[static_cast<size_t>(seq)].pages;
    return pages[static_cast<size_t>(pos / kPageSize)] * kPageSize + pos % kPageSize;
  }

  float* keys(int32_t layer, int32_t slot) { return &k_[layer_offset(layer) + size_t(slot) * kv_dim_]; }
  float* values(int32_t layer, int32_t slot) { return &v_[layer_offset(layer) + size_t(slot) * kv_dim_]; }
  const float* keys(int32_t layer) const { return &k_[layer_offset(layer)]; }    // [slots][kv_dim]
  const float* values(int32_t layer) const { return &v_[layer_offset(layer)]; }  // [slots][kv_dim]
  int32_t kv_dim() const { return kv_dim_; }

  // Pages referenced by more than one sequence (for tests of sharing).
  int32_t shared_pages() const;
  int32_t used_pages() const { return n_pages_ - static_cast<int32_t>(free_pages_.size()); }
  // Keys and values of the used pages, all layers.
  size_t bytes_in_use() const { return size_t(used_pages()) * kPageSize * kv_dim_ * n_layer_ * 2 * sizeof(float); }

 private:
  struct Sequence {
    bool live = false;
    int32_t length = 0;
    std::vector<int32_t> pages;
  };

  size_t layer_offset(int32_t layer) const { return size_t(layer) * size_t(n_pages_) * kPageSize * kv_dim_; }
  int32_t alloc_page();
  void release_page(int32_t page);
  Sequence& live_seq(int32_t seq);
  const Sequence& live_seq(int32_t seq) const;

  int32_t n_layer_, kv_dim_, capacity_, n_pages_;
  std::vector<float> k_, v_;  // [n_layer][n_pages * kPageSize][kv_dim]
  std::vector<int32_t> refs_;  // [n_pages] sequences using each page
  std::vector<int32_t> free_pages_;
  std::vector<Sequence> seqs_;
  std::vector<int32_t> free_seq_ids_;
};

}  // namespace entropix
