// Paged key/value cache. Each sequence is a list of fixed-size pages; a fork copies
// the parent's page list and shares the pages (reference counted), so a common
// prefix is stored once. Writing into a shared, partly filled page copies that one
// page first (copy on write), never the prefix. Pages may also be held outside any
// sequence (the prefix cache, model/prefix_cache.h, keeps those of finished ones)
// and given back on demand through a PageReclaimer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace entropix {

// How keys and values are stored: F16 (the default, half of F32's memory and reads, as
// llama.cpp's default), F32, or Q8_0 (ggml's blocks of 32 int8 elements with an fp16
// scale, 1.0625 bytes an element, as llama.cpp's -ctk/-ctv q8_0; needs head sizes in
// multiples of 32).
enum class KvType : uint8_t { F32, F16, Q8_0 };

const char* kv_type_name(KvType type);
// "f32", "f16" or "q8_0"; throws Error naming the accepted values otherwise.
KvType parse_kv_type(const std::string& name);
// Bytes of n elements (a multiple of 32 for Q8_0) stored as `type`.
size_t kv_row_bytes(KvType type, int32_t n);

// Holds pages that no sequence needs and frees them when the cache runs out: the
// KV cache counts them as free and asks for them before it reports itself full.
class PageReclaimer {
 public:
  virtual ~PageReclaimer() = default;
  // Pages reclaim() would free if asked for all it has.
  virtual int32_t reclaimable_pages() const = 0;
  // Frees at least `pages` pages when it can, fewer when it cannot; returns the pages freed.
  virtual int32_t reclaim(int32_t pages) = 0;
};

class KvCache {
 public:
  static constexpr int32_t kPageSize = 16;  // positions per page

  // capacity: positions for all sequences together; kv_dim = n_head_kv * head_dim.
  KvCache(int32_t n_layer, int32_t kv_dim, int32_t capacity, KvType type = KvType::F16);
  // Bytes the keys and values of a cache of `capacity` positions take (slack pages included).
  static uint64_t bytes_for(int32_t n_layer, int32_t kv_dim, int32_t capacity, KvType type = KvType::F16);
  KvType type() const { return type_; }

  int32_t new_sequence();
  int32_t fork(int32_t parent);
  void free_sequence(int32_t seq);
  void truncate(int32_t seq, int32_t length);
  bool is_live(int32_t seq) const;
  int32_t length(int32_t seq) const;
  // Positions new tokens can still take: free pages and those the reclaimer can free.
  int32_t free_positions() const;
  int32_t capacity() const { return capacity_; }

  // Pages that appending n positions to the sequence takes from the free ones: new
  // pages, and a copy of its last page when that is partly filled and shared.
  int32_t pages_to_append(int32_t seq, int32_t n) const;
  // Appends one position to the sequence and returns its slot (copying a shared
  // last page first). Throws Error when the cache is full.
  int32_t append(int32_t seq);
  // Slot of an existing position of a sequence.
  int32_t slot(int32_t seq, int32_t pos) const {
    const auto& pages = seqs_[static_cast<size_t>(seq)].pages;
    return pages[static_cast<size_t>(pos / kPageSize)] * kPageSize + pos % kPageSize;
  }

  // Keys are stored transposed within each page, [page][kv_dim][kPageSize], so that one
  // vector holds an element of every key of a page (kernels/attention_kernels.h); values
  // as rows, [slot][kv_dim]. Elements are of type(): floats or fp16. Q8_0 keys are int8
  // elements so transposed, followed in the page by their fp16 scales, [kv_dim / 32]
  // [kPageSize]; Q8_0 value rows are ggml's Q8_0 blocks.
  void write_key(int32_t layer, int32_t slot, const float* k);
  void write_value(int32_t layer, int32_t slot, const float* v);
  // One element, as a float (for tests and inspection).
  float key(int32_t layer, int32_t slot, int32_t d) const;
  float value(int32_t layer, int32_t slot, int32_t d) const;
  // The page's keys, [kv_dim][kPageSize]: element d of its i-th key at d * kPageSize + i.
  const void* key_page(int32_t layer, int32_t page) const { return &k_[layer_offset(layer) + page_offset(page)]; }
  // Q8_0 only: the scales of the page's keys, [kv_dim / 32][kPageSize] fp16.
  const uint16_t* key_scales(int32_t layer, int32_t page) const {
    return reinterpret_cast<const uint16_t*>(&k_[layer_offset(layer) + page_offset(page) + size_t(kPageSize) * kv_dim_]);
  }
  // The layer's values, [slots] rows of value_row_bytes().
  const void* values(int32_t layer) const { return &v_[layer_offset(layer)]; }
  size_t value_row_bytes() const { return row_bytes_; }
  int32_t kv_dim() const { return kv_dim_; }

  // Pages referenced by more than one sequence (for tests of sharing).
  int32_t shared_pages() const;
  int32_t used_pages() const { return n_pages_ - static_cast<int32_t>(free_pages_.size()); }
  int32_t free_pages() const { return static_cast<int32_t>(free_pages_.size()); }  // unused now, reclaimable not counted
  int32_t n_pages() const { return n_pages_; }
  // Keys and values of one page, all layers.
  size_t page_bytes() const { return size_t(kPageSize) * row_bytes_ * n_layer_ * 2; }
  // Keys and values of the used pages, all layers.
  size_t bytes_in_use() const { return size_t(used_pages()) * page_bytes(); }

  // Pages by reference, for holders outside the sequences (the prefix cache).
  // The pages of a sequence, [ceil(length / kPageSize)]: position p is in pages[p / kPageSize].
  std::span<const int32_t> pages(int32_t seq) const { return live_seq(seq).pages; }
  int32_t page_refs(int32_t page) const { return refs_[static_cast<size_t>(page)]; }
  void retain_page(int32_t page);
  void release_page(int32_t page);  // frees the page with its last reference
  // A new sequence of `length` positions reading the given pages ([ceil(length /
  // kPageSize)], each in use), which it shares: writing into the last one copies it.
  int32_t sequence_from_pages(std::span<const int32_t> pages, int32_t length);
  // At most one; null removes it, which a reclaimer does before it goes.
  void set_reclaimer(PageReclaimer* reclaimer);

 private:
  struct Sequence {
    bool live = false;
    int32_t length = 0;
    std::vector<int32_t> pages;
  };

  // Byte offsets into k_ and v_ (a layer's keys and its values take the same bytes: a
  // page of keys is kPageSize rows' worth).
  size_t layer_offset(int32_t layer) const { return size_t(layer) * size_t(n_pages_) * kPageSize * row_bytes_; }
  size_t page_offset(int32_t page) const { return size_t(page) * kPageSize * row_bytes_; }
  // Element d of the key at `slot` (F32 and F16; for Q8_0 the int8 element).
  size_t key_offset(int32_t layer, int32_t slot, int32_t d) const {
    return layer_offset(layer) + page_offset(slot / kPageSize) + (size_t(d) * kPageSize + size_t(slot % kPageSize)) * elem_bytes_;
  }
  size_t value_offset(int32_t layer, int32_t slot) const { return layer_offset(layer) + size_t(slot) * row_bytes_; }
  int32_t alloc_page();
  void check_used(int32_t page) const;
  Sequence& live_seq(int32_t seq);
  const Sequence& live_seq(int32_t seq) const;

  int32_t n_layer_, kv_dim_, capacity_, n_pages_;
  KvType type_;
  size_t elem_bytes_;  // of a key element: 4, 2, or 1 (Q8_0, scales apart)
  size_t row_bytes_;   // of kv_dim elements
  std::vector<uint8_t> k_;  // [n_layer][n_pages][kv_dim][kPageSize] elements
  std::vector<uint8_t> v_;  // [n_layer][n_pages * kPageSize][kv_dim] elements
  std::vector<int32_t> refs_;  // [n_pages] sequences using each page
  std::vector<int32_t> free_pages_;
  std::vector<Sequence> seqs_;
  std::vector<int32_t> free_seq_ids_;
  PageReclaimer* reclaimer_ = nullptr;
};

}  // namespace entropix
