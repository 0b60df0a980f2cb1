// What one render of a chat template may spend: the bytes its values hold at once and its
// wall-clock time. The render installs a RenderBudget for its thread; values charge it as
// they are made and refund it when freed, and the loops of the interpreter and of the walks
// over values (printing, comparing) check its clock. Values made outside a render (the
// context, the template's literals) cost nothing. The budget is found through the thread
// because values are made deep inside builtins that have no handle on the render.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

namespace entropix::jinja {

class RenderBudget {
 public:
  // Installs itself as the thread's budget until destroyed; every value made under it must
  // be freed before it is.
  RenderBudget(size_t max_bytes, std::chrono::milliseconds max_time);
  // Runs the releases given to at_end(), then restores the thread's previous budget.
  ~RenderBudget();
  RenderBudget(const RenderBudget&) = delete;
  RenderBudget& operator=(const RenderBudget&) = delete;

  // The thread's budget, or null outside a render.
  static RenderBudget* active();

  // Throws Error when `bytes` more would pass the memory budget; else holds them.
  void charge(size_t bytes);
  void refund(size_t bytes) { used_ -= bytes; }
  // Throws Error when `bytes` more would pass the memory budget; holds nothing (for a check
  // before a large allocation).
  void check_room(size_t bytes) const;
  // Throws Error past the deadline.
  void check_clock() const;
  // Runs release when the render ends. A namespace, the one value a template can change, may
  // come to hold itself, and shared pointers never free such a cycle: each namespace made
  // in a render registers here to be emptied at its end. Charges the entry.
  void at_end(std::function<void()> release);
  // check_clock() every so many calls, for loops whose single steps are cheap.
  void tick() {
    if (++ticks_ % kTicksPerClockCheck == 0) check_clock();
  }

 private:
  static constexpr uint32_t kTicksPerClockCheck = 4096;
  size_t max_bytes_;
  size_t used_ = 0;
  std::chrono::milliseconds max_time_;
  std::chrono::steady_clock::time_point deadline_;
  uint32_t ticks_ = 0;
  std::vector<std::function<void()>> at_end_;
  RenderBudget* previous_;
};

// The active budget's check_room() and tick(); nothing outside a render.
void check_room(size_t bytes);
void tick();

// The bytes one value holds against the budget that was active when they were charged,
// refunded when it is freed. A copy charges again: it holds its own bytes.
class Charge {
 public:
  Charge() = default;
  explicit Charge(size_t bytes) { add(bytes); }
  Charge(const Charge& other) { add(other.bytes_); }
  Charge(Charge&& other) noexcept : budget_(other.budget_), bytes_(other.bytes_) {
    other.budget_ = nullptr;
    other.bytes_ = 0;
  }
  Charge& operator=(Charge other) noexcept {
    std::swap(budget_, other.budget_);
    std::swap(bytes_, other.bytes_);
    return *this;
  }
  ~Charge() {
    if (budget_) budget_->refund(bytes_);
  }

  // Charges `bytes` more; throws Error (charging nothing) past the budget.
  void add(size_t bytes);

 private:
  RenderBudget* budget_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace entropix::jinja
