#include "grammar/grammar_checks.h"

#include <string>
#include <utility>
#include <vector>

#include "grammar/gbnf_parser.h"

namespace entropix::grammar {

std::vector<bool> nullable_rules(const Grammar& g) {
  std::vector<bool> nullable(g.alternatives.size(), false);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < g.alternatives.size(); ++r) {
      if (nullable[r]) continue;
      for (uint32_t pos : g.alternatives[r]) {
        bool empty = true;
        for (uint32_t p = pos; g.elements[p].kind != ElementKind::End; ++p) {
          const Element& e = g.elements[p];
          if (e.kind != ElementKind::RuleRef || !nullable[e.value]) {
            empty = false;
            break;
          }
        }
        if (empty) {
          nullable[r] = true;
          changed = true;
          break;
        }
      }
    }
  }
  return nullable;
}

void check_grammar(const Grammar& g, std::string_view origin) {
  const std::vector<bool> nullable = nullable_rules(g);
  const size_t n = g.alternatives.size();
  // left[r]: the rules r can start with, reading nothing before them.
  std::vector<std::vector<uint32_t>> left(n);
  for (size_t r = 0; r < n; ++r)
    for (uint32_t pos : g.alternatives[r])
      for (uint32_t p = pos; g.elements[p].kind == ElementKind::RuleRef; ++p) {
        left[r].push_back(g.elements[p].value);
        if (!nullable[g.elements[p].value]) break;
      }
  // A cycle in that graph is left recursion; iterative depth-first search (grammars
  // may have tens of thousands of rules).
  enum : uint8_t { kNew, kOpen, kDone };
  std::vector<uint8_t> mark(n, kNew);
  std::vector<std::pair<uint32_t, size_t>> path;
  for (size_t start = 0; start < n; ++start) {
    if (mark[start] != kNew) continue;
    path.push_back({static_cast<uint32_t>(start), 0});
    mark[start] = kOpen;
    while (!path.empty()) {
      auto& [r, next] = path.back();
      if (next == left[r].size()) {
        mark[r] = kDone;
        path.pop_back();
        continue;
      }
      const uint32_t to = left[r][next++];
      if (mark[to] == kOpen) {
        // Name a rule the user wrote where the cycle has one (helper rules are named after theirs).
        throw GrammarError(std::string(origin) + ": rule '" + g.rule_names[to] +
                           "' is left-recursive (it can reach itself before reading a character)");
      }
      if (mark[to] == kNew) {
        mark[to] = kOpen;
        path.push_back({to, 0});
      }
    }
  }
}

}  // namespace entropix::grammar
