// Two hints that keep a kernel's register tile in registers with GCC.
#pragma once

// Full unrolling of a loop over the tile. GCC keeps an array of vector accumulators
// indexed by loop counters in memory when it scalarizes before it unrolls: every
// multiply-add of the tile is then followed by a store to the stack.
#define ENTROPIX_UNROLL _Pragma("GCC unroll 16")

// Marks a vector sum as formed at this point. Without it GCC regroups a chain of
// additions (a sub-block's products for each token) into a tree whose terms are all
// computed first, more than the 16 vector registers hold: each is spilled to the stack
// and read back, and the loads and stores, not the arithmetic, bound the kernel.
template <typename Vector>
inline void sum_formed_here(Vector& v) {
  asm("" : "+x"(v));
}
