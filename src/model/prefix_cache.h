// Prefix cache: a radix tree of token ids over the pages of the KV cache (SGLang's
// RadixAttention), so that text read once is not read again. A finished or paused
// sequence leaves its positions in the tree; a new one takes the longest cached
// prefix of its tokens by reference and reads only the rest.
//
// What the tree holds. Each edge is a run of token ids, the positions [start, end)
// of every sequence whose tokens follow the path from the root. A node holds one
// reference to each KV page of those positions that no ancestor holds; a page that
// straddles a branch point (the parent's last positions and the child's first) stays
// with the parent when it is the same physical page, and a child that wrote its own
// copy of it (copy on write) holds that copy. So every page of the tree is held by
// exactly one node, and the page of position p on a path is the one held by the
// deepest node of the path that holds page p / kPageSize. match() builds a new
// sequence from those pages (KvCache::sequence_from_pages); its first write into a
// shared partial page copies that page, never the prefix.
//
// In use and eviction. The tree's reference is one of a page's references; a page
// with more is read by a live sequence (one that matched it, or the sequence that
// inserted it and runs on). A node is pinned when a page of its positions (its own, or
// the one its first positions share with its parent) is read so, or when a descendant
// is: evicting it would free nothing a live sequence does not hold anyway. A match that
// ends inside an edge splits it there, so that only what the sequence reads is pinned.
// Eviction drops the least recently used unpinned leaf (match and insert touch the
// whole path), again until enough pages are free; a parent left without children is
// then a leaf like any other. The cache is its KV cache's PageReclaimer:
// KvCache::free_positions() counts the pages of the unpinned nodes as free, and a page
// allocation that finds none free evicts first, so a full tree is never the reason a
// sequence cannot grow. A budget (max_pages) also bounds what the tree keeps after
// each insert.
//
// Exactness. Every row of the forward pass is computed the same whatever the batch
// around it (kernels/dot.h: a row's dot products do not depend on how many rows share
// the call; attention, norms and rope work per row), so the keys and values of a
// position depend only on the tokens up to it, not on how they were read (in one
// batch, in chunks, or one at a time as generated text). A cached prefix therefore
// gives bit-identical logits; tests/test_prefix_cache.cpp checks it on every weight
// type, prompts read whole against prompts read in pieces through the cache.
//
// Sliding windows. The tree keeps each page's companion (the windowed layers' part,
// model/kv_cache.h) where the sequence it came from still had it: the last window of
// each inserted sequence. A match ends where the companions of what its next position
// reads are all there, so a long prefix is taken whole when it is continued and only
// down to the last window's reach when it is left earlier.
//
// Not thread-safe: the thread that owns the engine owns its prefix cache. Destroy it
// before its KV cache.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "model/kv_cache.h"

namespace entropix {

struct PrefixCacheOptions {
  int32_t max_pages = 0;  // pages the tree keeps after an insert at most (0: every page of the KV cache)
};

// The longest cached prefix of a token sequence, in a sequence of the caller's.
struct PrefixMatch {
  int32_t seq = -1;      // a new sequence holding positions [0, n_cached); the caller frees or retires it
  int32_t n_cached = 0;  // tokens read from the cache: the caller reads tokens[n_cached..] into seq
};

struct PrefixCacheStats {
  int64_t lookups = 0;            // match() calls
  int64_t hits = 0;               // lookups that found at least one token
  int64_t tokens_looked_up = 0;   // tokens of the looked-up sequences
  int64_t tokens_matched = 0;     // of them, taken from the cache (cached tokens served)
  int64_t tokens_inserted = 0;    // tokens added to the tree
  int64_t evictions = 0;          // leaves evicted
  int64_t pages_evicted = 0;      // pages freed by eviction
  int32_t pages_held = 0;         // pages the tree holds now
  int32_t nodes = 0;              // nodes of the tree now, the root excluded
  // Share of the looked-up tokens that were served from the cache.
  double hit_rate() const { return tokens_looked_up > 0 ? double(tokens_matched) / double(tokens_looked_up) : 0.0; }
};

class PrefixCache final : public PageReclaimer {
 public:
  // Registers itself as kv's reclaimer (one per KV cache).
  explicit PrefixCache(KvCache& kv, const PrefixCacheOptions& options = {});
  ~PrefixCache() override;  // gives back every page the tree holds
  PrefixCache(const PrefixCache&) = delete;
  PrefixCache& operator=(const PrefixCache&) = delete;

  // A new sequence holding the longest cached prefix of `tokens`, at most all but the
  // last token: the caller reads at least that one and so gets the logits after it.
  PrefixMatch match(std::span<const int32_t> tokens);
  // Caches the first tokens.size() positions of `seq`, which hold the keys and values
  // of `tokens` (what was decoded into it, in order): the tree takes the pages it lacks
  // by reference. The sequence stays the caller's and may run on (a paused answer).
  void insert(std::span<const int32_t> tokens, int32_t seq);
  // insert(), then frees `seq`, then evicts down to the budget: how a finished
  // sequence ends when there is a cache.
  void retire(std::span<const int32_t> tokens, int32_t seq);
  // Evicts least recently used unpinned leaves until `pages` pages were freed or none is
  // left; returns the pages freed.
  int32_t evict(int32_t pages);
  // Positions' worth of evictions: frees pages until the KV cache has `positions` free
  // positions without the reclaimer, or nothing is left to evict. Returns whether it has.
  bool evict_until(int32_t positions);
  // Drops every entry (pages read by live sequences stay theirs).
  void clear();

  // Length of the longest cached prefix of `tokens` (all of them may match); touches nothing.
  int32_t cached_length(std::span<const int32_t> tokens) const;
  PrefixCacheStats stats() const;

  int32_t reclaimable_pages() const override;
  int32_t reclaim(int32_t pages) override;

 private:
  struct Node;
  struct Scan;
  struct Walk {
    Node* node;      // the node the prefix ends in (the root when nothing matched)
    int32_t length;  // tokens matched; may end inside node's edge
  };
  Walk walk(std::span<const int32_t> tokens) const;
  // How much of the walk a sequence can start from (KvCache::usable_length()).
  int32_t usable_length(const Walk& w) const;
  void touch(Node* node);
  std::vector<int32_t> path_pages(const Node* node, int32_t length) const;
  Node* split(Node* node, int32_t at);
  Node* add_leaf(Node* parent, std::span<const int32_t> tokens, int32_t seq);
  // Whether node or a descendant is pinned; adds to s what can be evicted below it.
  bool scan(Node* node, int32_t path_last, Scan& s) const;
  void trim_to_budget();
  int32_t drop_leaf(Node* leaf);  // returns the pages freed
  void drop_pages(Node* node);

  KvCache& kv_;
  int32_t max_pages_;
  std::unique_ptr<Node> root_;
  std::vector<uint8_t> held_;  // [kv.n_pages()] 1 where the tree holds the page
  uint64_t clock_ = 0;         // ticks at every match and insert, for least-recently-used order
  PrefixCacheStats stats_;
};

}  // namespace entropix
