// The inner loops of attention over a block of cached keys and values (one KV page),
// for the query rows that share one KV head: the heads of a group (grouped-query
// attention) and several tokens of one sequence read each key and value once for all of
// them. Keys are stored transposed per page (element d of key i at d * kKeyPageRows + i),
// so a vector holds one element of every key of the page and the scores need no
// horizontal sums. Siblings: portable scalar, AVX2/FMA and AVX-512, chosen with the dot
// products' backend (ENTROPIX_KERNELS forces one).
#pragma once

#include <cstddef>
#include <cstdint>

namespace entropix {

// Keys per transposed key page (the KV cache's page size).
inline constexpr int32_t kKeyPageRows = 16;

struct AttentionKernels {
  const char* name;
  // scores[g * stride + i] = scale * (q_g . k_i) for g < n_q and every i < kKeyPageRows
  // (rows past the page's filled ones give figures the caller ignores), where q_g = q +
  // g * hd and element d of k_i is kt[d * kKeyPageRows + i]. Each score sums over d in
  // order, whatever n_q is.
  void (*scores)(const float* q, int32_t n_q, const float* kt, int32_t hd, float scale, float* scores, size_t stride);
  // out_g += sum_i p[g * stride + i] * v_i for g < n_q, with out_g = out + g * hd and
  // v_i = v + i * v_stride (floats), rows added in order.
  void (*values)(const float* p, size_t stride, int32_t n_q, const float* v, size_t v_stride, int32_t n_rows,
                 int32_t hd, float* out);
  // The same two reading keys and values stored as fp16 (the KV cache's default).
  void (*scores_f16)(const float* q, int32_t n_q, const uint16_t* kt, int32_t hd, float scale, float* scores,
                     size_t stride);
  void (*values_f16)(const float* p, size_t stride, int32_t n_q, const uint16_t* v, size_t v_stride, int32_t n_rows,
                     int32_t hd, float* out);
  // The same two over a run of pages of one block: key page j at pages[j], its scores at
  // scores + j * kKeyPageRows; value page j's rows at v_pages[j] + i * v_stride (16 rows,
  // n_last on the last page), weighed by p + j * kKeyPageRows. What the one-page loops
  // give page by page, bit for bit; a backend's own kernels share each loaded key or
  // value among more rows and keep the sums in registers across the pages.
  // ahead[j] is a page of the same form (16 whole rows) whose bytes are asked for while
  // page j is worked on, so that the pages after this run arrive from memory while this
  // one computes; it is never read, and may repeat a page of the run.
  // (The pages point at floats, or at fp16 for the _f16 pair.)
  void (*scores_pages)(const float* q, int32_t n_q, const void* const* pages, const void* const* ahead, int32_t n_pages,
                       int32_t hd, float scale, float* scores, size_t stride);
  void (*values_pages)(const float* p, size_t stride, int32_t n_q, const void* const* v_pages, const void* const* ahead,
                       int32_t n_pages, int32_t n_last, size_t v_stride, int32_t hd, float* out);
  void (*scores_pages_f16)(const float* q, int32_t n_q, const void* const* pages, const void* const* ahead,
                           int32_t n_pages, int32_t hd, float scale, float* scores, size_t stride);
  void (*values_pages_f16)(const float* p, size_t stride, int32_t n_q, const void* const* v_pages,
                           const void* const* ahead, int32_t n_pages, int32_t n_last, size_t v_stride, int32_t hd,
                           float* out);
  // Keys stored as Q8_0 (the KV cache's q8_0 type): kt holds int8 elements transposed as
  // above, ks their fp16 scales, one per 32 elements of a key ([hd / 32][kKeyPageRows];
  // hd a multiple of 32). Each score sums block by block, in order.
  void (*scores_q8)(const float* q, int32_t n_q, const int8_t* kt, const uint16_t* ks, int32_t hd, float scale,
                    float* scores, size_t stride);
  // Values stored as rows of ggml's Q8_0 blocks, v_stride bytes apart (v at the head's
  // first block).
  void (*values_q8)(const float* p, size_t stride, int32_t n_q, const uint8_t* v, size_t v_stride, int32_t n_rows,
                    int32_t hd, float* out);
  // x[0..n) (n >= 1) becomes exp(x[i] - max), in place, where *max is set to the largest
  // x[i]; returns the sum of the results (a block's share of an online softmax).
  float (*exponentiate)(float* x, int32_t n, float* max);
};

// Asks for bytes [p, p + n) to be brought into the cache ahead of their use.
inline void prefetch_bytes(const void* p, size_t n) {
  const auto* c = static_cast<const char*>(p);
  for (size_t i = 0; i < n; i += 64) __builtin_prefetch(c + i, 0, 3);
}

// A run of pages through a one-page loop, for the backends without run kernels of their
// own; each page's `ahead` page is asked for before it.
template <typename T, void (*one_page)(const float*, int32_t, const T*, int32_t, float, float*, size_t)>
void scores_page_by_page(const float* q, int32_t n_q, const void* const* pages, const void* const* ahead,
                         int32_t n_pages, int32_t hd, float scale, float* scores, size_t stride) {
  for (int32_t j = 0; j < n_pages; ++j) {
    prefetch_bytes(ahead[j], size_t(hd) * kKeyPageRows * sizeof(T));
    one_page(q, n_q, static_cast<const T*>(pages[j]), hd, scale, scores + size_t(j) * kKeyPageRows, stride);
  }
}
template <typename T, void (*one_page)(const float*, size_t, int32_t, const T*, size_t, int32_t, int32_t, float*)>
void values_page_by_page(const float* p, size_t stride, int32_t n_q, const void* const* v_pages,
                         const void* const* ahead, int32_t n_pages, int32_t n_last, size_t v_stride, int32_t hd,
                         float* out) {
  for (int32_t j = 0; j < n_pages; ++j) {
    for (int32_t i = 0; i < kKeyPageRows; ++i) {
      prefetch_bytes(static_cast<const T*>(ahead[j]) + size_t(i) * v_stride, size_t(hd) * sizeof(T));
    }
    one_page(p + size_t(j) * kKeyPageRows, stride, n_q, static_cast<const T*>(v_pages[j]), v_stride,
             j + 1 < n_pages ? kKeyPageRows : n_last, hd, out);
  }
}

const AttentionKernels& scalar_attention_kernels();
// nullptr when not built for x86-64 or the CPU lacks AVX2, FMA and F16C.
const AttentionKernels* avx2_attention_kernels();
// nullptr unless the CPU also has AVX-512 F.
const AttentionKernels* avx512_attention_kernels();
// The sibling of the dot products' backend (kernels/dot.h). Chosen once.
const AttentionKernels& attention_kernels();

}  // namespace entropix
