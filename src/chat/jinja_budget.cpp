#include "chat/jinja_budget.h"

#include <string>

#include "core/error.h"

namespace entropix::jinja {

namespace {

thread_local RenderBudget* active_budget = nullptr;

}  // namespace

RenderBudget::RenderBudget(size_t max_bytes, std::chrono::milliseconds max_time)
    : max_bytes_(max_bytes),
      max_time_(max_time),
      deadline_(std::chrono::steady_clock::now() + max_time),
      previous_(active_budget) {
  active_budget = this;
}

RenderBudget::~RenderBudget() {
  for (const auto& release : at_end_) release();
  active_budget = previous_;
}

void RenderBudget::at_end(std::function<void()> release) {
  charge(sizeof(release));
  at_end_.push_back(std::move(release));
}

RenderBudget* RenderBudget::active() { return active_budget; }

void RenderBudget::check_room(size_t bytes) const {
  if (bytes > max_bytes_ - used_)
    throw Error("expected the values of one render to hold at most " + std::to_string(max_bytes_ >> 20) +
                " MiB, found more (a template that grows without bound?)");
}

void RenderBudget::charge(size_t bytes) {
  check_room(bytes);
  used_ += bytes;
  tick();
}

void RenderBudget::check_clock() const {
  if (std::chrono::steady_clock::now() > deadline_)
    throw Error("expected one render to take at most " + std::to_string(max_time_.count()) +
                " ms, found longer (a runaway template)");
}

void check_room(size_t bytes) {
  if (RenderBudget* b = RenderBudget::active()) b->check_room(bytes);
}

void tick() {
  if (RenderBudget* b = RenderBudget::active()) b->tick();
}

void Charge::add(size_t bytes) {
  RenderBudget* b = RenderBudget::active();
  if (!b || (budget_ && budget_ != b)) return;
  b->charge(bytes);
  budget_ = b;
  bytes_ += bytes;
}

}  // namespace entropix::jinja
