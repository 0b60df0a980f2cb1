// How the prompt tokens of one inference-loop step are shared among the requests
// still prefilling (chunked prefill). A pure function of plain numbers, so that
// the fairness rules are tested without an engine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace entropix::server {

// Fills out[i] with the prompt tokens sequence i feeds this step, given
// remaining[i], the tokens of its prompt not yet fed. Each feeds at most
// `per_seq` and all together at most `total`. The tokens are split evenly; what
// a short prompt leaves of its share goes to the others; the few left by an
// even split go one each from sequence `first` on (the caller rotates `first`
// from step to step, so that with fewer tokens than sequences each gets a turn).
// out.size() must equal remaining.size(); first < remaining.size() unless empty.
void share_prefill(std::span<const int64_t> remaining, int64_t per_seq, int64_t total, size_t first,
                   std::span<int64_t> out);

}  // namespace entropix::server
