// A large, page-aligned anonymous buffer for data built once at load (repacked weights):
// asked for transparent huge pages and mapped in one call, because on virtual machines
// every 4 KiB page fault taken one at a time is expensive, and fewer, larger pages also
// spare the TLB when the kernels stream through it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace entropix {

class PageBuffer {
 public:
  PageBuffer() = default;
  // Throws Error when the system refuses the memory.
  explicit PageBuffer(size_t bytes);
  ~PageBuffer();
  PageBuffer(PageBuffer&& other) noexcept;
  PageBuffer& operator=(PageBuffer&& other) noexcept;
  PageBuffer(const PageBuffer&) = delete;
  PageBuffer& operator=(const PageBuffer&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Maps a file mapping's pages of [p, p + n) in one call before they are read (advice
// only: where the kernel lacks it they fault in as they are read).
void prefault_for_reading(const void* p, size_t n);
// The same for writing anonymous memory; threads may prefault their own parts in parallel
// (a page two parts share is mapped once).
void prefault_for_writing(void* p, size_t n);

}  // namespace entropix
