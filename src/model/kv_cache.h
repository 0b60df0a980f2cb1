// Paged key/value cache. Each sequence is a list of fixed-size pages; a fork copies
// the parent's page list and shares the pages (reference counted), so a common
// prefix is stored once. Writing into a shared, partly filled page copies that one
// page first (copy on write), never the prefix. Pages may also be held outside any
// sequence (the prefix cache, model/prefix_cache.h, keeps those of finished ones)
// and given back on demand through a PageReclaimer.
//
// Sliding windows. A layer that attends only to the last `window` positions (gemma2,
// gemma3, phi3, Mistral-style llama files) does not need the keys and values behind
// them. Such layers are stored apart: each page of the sequences (a "page" below, as
// the sequences, forks and the prefix cache see it) has a companion page holding the
// windowed layers' part, and a sequence lets go of its companions once its window has
// passed them (trim_window()). A companion is freed when no holder keeps it, so a live
// sequence's windowed layers take the window's memory whatever its length. Holders
// other than sequences (the prefix cache) keep the companions a page had when they
// took it. Both page pools are mapped lazily, so untouched pages take no memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/page_buffer.h"

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

// Layers that attend to the last `positions` positions only (none when positions is 0).
struct SlidingWindow {
  int32_t positions = 0;
  std::vector<uint8_t> layers;  // [n_layer] 1 where the layer is windowed
};

class KvCache {
 public:
  static constexpr int32_t kPageSize = 16;  // positions per page

  // capacity: positions for all sequences together; kv_dim = heads * head_dim, where heads
  // is the model's KV heads: each head's keys and values are stored apart (see below).
  KvCache(int32_t n_layer, int32_t kv_dim, int32_t capacity, KvType type = KvType::F16,
          const SlidingWindow& window = {}, int32_t heads = 1);
  // Bytes the keys and values of one sequence of `capacity` positions take (slack pages
  // included), read in batches of up to `batch` positions: the windowed layers hold
  // their window, a batch and a page of slack at most.
  static uint64_t bytes_for(int32_t n_layer, int32_t kv_dim, int32_t capacity, KvType type = KvType::F16,
                            const SlidingWindow& window = {}, int32_t batch = 0);
  KvType type() const { return type_; }
  // The window's positions, 0 when no layer is windowed.
  int32_t window() const { return window_; }
  bool windowed(int32_t layer) const { return layer_class_[static_cast<size_t>(layer)] == kWindowed; }

  int32_t new_sequence();
  int32_t fork(int32_t parent);
  void free_sequence(int32_t seq);
  // Throws Error when the windowed layers already let go of positions the shorter
  // sequence would need.
  void truncate(int32_t seq, int32_t length);
  // Lets the windowed layers of the sequence go of the pages behind its window, but one
  // (so that the last position can be read again, as the prefix cache does). The engine
  // calls it after each batch: positions a batch still reads are never let go.
  void trim_window(int32_t seq);
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

  // Each layer's keys and values are stored head by head: a head's part of every page
  // lies together, pages in order, so reading a sequence's cache for one head (what
  // attention does) streams through memory rather than jumping a page's other heads.
  // Within a head's part of a page, keys are transposed, [head_dim][kPageSize], so that
  // one vector holds an element of every key of the page (kernels/attention_kernels.h);
  // values are rows, [kPageSize][head_dim]. Elements are of type(): floats or fp16. Q8_0
  // keys are int8 elements so transposed, followed by their fp16 scales, [head_dim / 32]
  // [kPageSize]; Q8_0 value rows are ggml's Q8_0 blocks. Slots and pages are those the
  // sequences hold (slot(), pages()); a windowed layer's are its companions. d below
  // counts over all heads (d / head_dim is the head).
  void write_key(int32_t layer, int32_t slot, const float* k);
  void write_value(int32_t layer, int32_t slot, const float* v);
  // One element, as a float (for tests and inspection).
  float key(int32_t layer, int32_t slot, int32_t d) const;
  float value(int32_t layer, int32_t slot, int32_t d) const;
  // Whether the layer keeps the page's keys and values: false only for a windowed layer
  // whose companion of the page was let go.
  bool stored(int32_t layer, int32_t page) const {
    return layer_class_[static_cast<size_t>(layer)] == kFull || companion_[static_cast<size_t>(page)] >= 0;
  }
  // A head's keys in the page, [head_dim][kPageSize]: element d of its i-th key at
  // d * kPageSize + i.
  const void* key_page(int32_t layer, int32_t page, int32_t head) const {
    return k_[class_of(layer)].data() + head_page_offset(layer, head, stored_page(layer, page));
  }
  // Q8_0 only: the scales of a head's keys in the page, [head_dim / 32][kPageSize] fp16.
  const uint16_t* key_scales(int32_t layer, int32_t page, int32_t head) const {
    return reinterpret_cast<const uint16_t*>(static_cast<const uint8_t*>(key_page(layer, page, head)) +
                                             size_t(kPageSize) * head_dim_);
  }
  // A head's values in the page, kPageSize rows of head_row_bytes().
  const void* value_page(int32_t layer, int32_t page, int32_t head) const {
    return v_[class_of(layer)].data() + head_page_offset(layer, head, stored_page(layer, page));
  }
  size_t value_row_bytes() const { return row_bytes_; }  // of all heads
  size_t head_row_bytes() const { return head_bytes_; }   // of one head
  int32_t kv_dim() const { return kv_dim_; }
  int32_t heads() const { return heads_; }

  // Pages referenced by more than one sequence (for tests of sharing).
  int32_t shared_pages() const;
  int32_t used_pages() const { return n_pages_ - static_cast<int32_t>(free_pages_.size()); }
  int32_t free_pages() const { return static_cast<int32_t>(free_pages_.size()); }  // unused now, reclaimable not counted
  int32_t n_pages() const { return n_pages_; }
  // Companion pages in use (the windowed layers' part of the pages).
  int32_t used_window_pages() const {
    return n_layers_[kWindowed] > 0 ? n_pages_ - static_cast<int32_t>(free_companions_.size()) : 0;
  }
  // Keys and values of one page, all layers (its companion's included).
  size_t page_bytes() const { return size_t(kPageSize) * row_bytes_ * size_t(n_layer_) * 2; }
  // Keys and values of the pages and companions in use.
  size_t bytes_in_use() const {
    return size_t(kPageSize) * row_bytes_ * 2 *
           (size_t(used_pages()) * size_t(n_layers_[kFull]) + size_t(used_window_pages()) * size_t(n_layers_[kWindowed]));
  }

  // Pages by reference, for holders outside the sequences (the prefix cache).
  // The pages of a sequence, [ceil(length / kPageSize)]: position p is in pages[p / kPageSize].
  std::span<const int32_t> pages(int32_t seq) const { return live_seq(seq).pages; }
  int32_t page_refs(int32_t page) const { return refs_[static_cast<size_t>(page)]; }
  // Whether the page still has its companion (always where no layer is windowed).
  bool has_window(int32_t page) const { return n_layers_[kWindowed] == 0 || companion_[static_cast<size_t>(page)] >= 0; }
  // A holder's reference: to the page and to its companion where it has one then.
  void retain_page(int32_t page);
  // Frees the page with its last reference (and its companion with the last of its own).
  void release_page(int32_t page);
  // The longest sequence that the pages can start: `length` positions, or fewer where
  // the windowed layers' part of the pages the last position would read is gone.
  int32_t usable_length(std::span<const int32_t> pages, int32_t length) const;
  // A new sequence of `length` positions reading the given pages ([ceil(length /
  // kPageSize)], each in use), which it shares: writing into the last one copies it.
  // The windowed layers' part of the pages the next position reads must be there
  // (usable_length()).
  int32_t sequence_from_pages(std::span<const int32_t> pages, int32_t length);
  // At most one; null removes it, which a reclaimer does before it goes.
  void set_reclaimer(PageReclaimer* reclaimer);

 private:
  struct Sequence {
    bool live = false;
    int32_t length = 0;
    std::vector<int32_t> pages;
    int32_t window_from = 0;  // index of the first page whose companion it keeps
  };
  // Layers of the two kinds are stored apart, each kind in its own buffers.
  static constexpr int kFull = 0, kWindowed = 1;

  int class_of(int32_t layer) const { return layer_class_[static_cast<size_t>(layer)]; }
  // The page a layer stores a sequence's page in: the page itself, or its companion.
  int32_t stored_page(int32_t layer, int32_t page) const {
    return class_of(layer) == kFull ? page : companion_[static_cast<size_t>(page)];
  }
  int32_t stored_slot(int32_t layer, int32_t slot) const {
    return stored_page(layer, slot / kPageSize) * kPageSize + slot % kPageSize;
  }
  // Byte offsets into the layer's kind's buffers (a layer's keys and its values take the
  // same bytes: a head's part of a page of keys is kPageSize of its rows' worth), of a
  // head's part of a stored page.
  size_t head_page_offset(int32_t layer, int32_t head, int32_t page) const {
    return (size_t(layer_index_[static_cast<size_t>(layer)]) * size_t(heads_) + size_t(head)) * size_t(n_pages_) *
               kPageSize * head_bytes_ +
           size_t(page) * kPageSize * head_bytes_;
  }
  // A head's part of the key at a slot: its element 0 (F32 and F16; for Q8_0 the
  // int8 element), the rest kPageSize elements apart.
  uint8_t* key_bytes(int32_t layer, int32_t slot, int32_t head) const {
    const int32_t stored = stored_slot(layer, slot);
    return k_[class_of(layer)].data() + head_page_offset(layer, head, stored / kPageSize) +
           size_t(stored % kPageSize) * elem_bytes_;
  }
  // A head's part of the value row at a slot.
  uint8_t* value_bytes(int32_t layer, int32_t slot, int32_t head) const {
    const int32_t stored = stored_slot(layer, slot);
    return v_[class_of(layer)].data() + head_page_offset(layer, head, stored / kPageSize) +
           size_t(stored % kPageSize) * head_bytes_;
  }
  // A new page (with a new companion where layers are windowed), one reference.
  int32_t alloc_page();
  // Copies the page's first `rows` positions (keys: the whole page) into `to`.
  void copy_page(int32_t from, int32_t to, int32_t rows);
  void release(int32_t page, bool with_window);
  void release_window(int32_t page);
  void check_used(int32_t page) const;
  // Index of the first page the windowed layers read for a sequence of `length` positions
  // to go on, less a page of slack.
  int32_t window_keep_from(int32_t length) const;
  Sequence& live_seq(int32_t seq);
  const Sequence& live_seq(int32_t seq) const;

  int32_t n_layer_, kv_dim_, capacity_, n_pages_, heads_, head_dim_;
  KvType type_;
  size_t elem_bytes_;  // of a key element: 4, 2, or 1 (Q8_0, scales apart)
  size_t row_bytes_;   // of kv_dim elements
  size_t head_bytes_;  // of head_dim elements
  int32_t window_ = 0;
  std::vector<int> layer_class_;         // [n_layer] kFull or kWindowed
  std::vector<int32_t> layer_index_;     // [n_layer] index among the layers of its kind
  int32_t n_layers_[2] = {0, 0};         // layers of each kind
  // Per kind: keys [layers][heads][n_pages][head_dim][kPageSize] elements and values
  // [layers][heads][n_pages * kPageSize][head_dim] elements.
  PageBuffer k_[2], v_[2];
  std::vector<int32_t> refs_;  // [n_pages] holders of each page
  std::vector<int32_t> free_pages_;
  std::vector<int32_t> companion_;        // [n_pages] the page's companion, -1 when let go
  std::vector<int32_t> companion_refs_;   // [n_pages] holders keeping the page's companion
  std::vector<int32_t> free_companions_;
  std::vector<Sequence> seqs_;
  std::vector<int32_t> free_seq_ids_;
  PageReclaimer* reclaimer_ = nullptr;
};

}  // namespace entropix
