#include "eval/report.h"

#include <algorithm>
#include <fmt/core.h>
#include <map>

#include "core/html_escape.h"
#include "core/json_text.h"
#include "entropix/policy.h"

namespace entropix {

namespace {

const char* kColours[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7"};

// Accuracy (y) against mean tokens spent per problem (x), one point per strategy.
std::string accuracy_vs_tokens_svg(const std::vector<StrategyReport>& reports) {
  const double W = 560, H = 320, L = 60, B = 40, T = 20, R = 160;
  double max_tokens = 1;
  for (const auto& r : reports) max_tokens = std::max(max_tokens, r.mean_tokens());
  max_tokens *= 1.1;
  std::string s = fmt::format(R"(<svg width="{}" height="{}" xmlns="http://www.w3.org/2000/svg" font-size="12">)", W, H);
  s += fmt::format(R"(<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" stroke="#333"/><line x1="{0}" y1="{3}" x2="{0}" y2="{1}" stroke="#333"/>)",
                   L, H - B, W - R, T);
  for (int i = 0; i <= 4; ++i) {
    double y = H - B - (H - B - T) * i / 4.0;
    s += fmt::format(R"(<text x="{}" y="{}" text-anchor="end">{}%</text>)", L - 6, y + 4, i * 25);
    double x = L + (W - R - L) * i / 4.0;
    s += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle">{:.0f}</text>)", x, H - B + 16, max_tokens * i / 4.0);
  }
  s += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle">mean tokens spent per problem</text>)", (L + W - R) / 2, H - 6);
  for (size_t i = 0; i < reports.size(); ++i) {
    const auto& r = reports[i];
    auto [lo, hi] = r.confidence_interval();
    double x = L + (W - R - L) * r.mean_tokens() / max_tokens;
    auto ypos = [&](double a) { return H - B - (H - B - T) * a; };
    const char* c = kColours[i % 8];
    s += fmt::format(R"(<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="{3}"/>)", x, ypos(lo), ypos(hi), c);
    s += fmt::format(R"(<circle cx="{}" cy="{}" r="5" fill="{}"/>)", x, ypos(r.accuracy()), c);
    s += fmt::format(R"(<rect x="{}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}">{}</text>)", W - R + 10,
                     T + 16 * i, c, W - R + 24, T + 16 * i + 9, html_escape(r.name));
  }
  return s + "</svg>";
}

// Share of each uncertainty state among generated tokens, a stacked bar per strategy.
std::string states_svg(const std::vector<StrategyReport>& reports) {
  const double W = 560, row = 26, L = 150;
  const double H = 40 + row * double(reports.size());
  const char* state_colours[] = {"#59a14f", "#e15759", "#edc948", "#b07aa1", "#76b7b2"};
  std::string s = fmt::format(R"(<svg width="{}" height="{}" xmlns="http://www.w3.org/2000/svg" font-size="12">)", W, H);
  for (size_t i = 0; i < reports.size(); ++i) {
    const auto& r = reports[i];
    double total = 0;
    for (auto c : r.state_counts) total += double(c);
    double x = L, y = 10 + row * double(i);
    s += fmt::format(R"(<text x="{}" y="{}" text-anchor="end">{}</text>)", L - 6, y + 14, html_escape(r.name));
    for (size_t k = 0; k < 5 && total > 0; ++k) {
      double w = (W - L - 20) * double(r.state_counts[k]) / total;
      s += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="18" fill="{}"><title>{} {:.1f}%</title></rect>)", x, y,
                       w, state_colours[k], state_name(static_cast<State>(k)), 100.0 * double(r.state_counts[k]) / total);
      x += w;
    }
  }
  double lx = L;
  for (size_t k = 0; k < 5; ++k) {
    s += fmt::format(R"(<rect x="{}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}">{}</text>)", lx, H - 18,
                     state_colours[k], lx + 14, H - 9, state_name(static_cast<State>(k)));
    lx += 80;
  }
  return s + "</svg>";
}

// Accuracy per difficulty (steps), grouped bars per strategy.
std::string difficulty_svg(const std::vector<StrategyReport>& reports) {
  std::map<int32_t, bool> levels;
  for (const auto& r : reports)
    for (const auto& o : r.outcomes) levels[o.steps] = true;
  const double W = 560, H = 300, L = 50, B = 40, T = 20;
  const double group = (W - L - 20) / double(std::max<size_t>(levels.size(), 1));
  const double bar = group * 0.8 / double(std::max<size_t>(reports.size(), 1));
  std::string s = fmt::format(R"(<svg width="{}" height="{}" xmlns="http://www.w3.org/2000/svg" font-size="12">)", W, H);
  s += fmt::format(R"(<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" stroke="#333"/>)", L, H - B, W - 20);
  for (int i = 0; i <= 4; ++i) {
    s += fmt::format(R"(<text x="{}" y="{}" text-anchor="end">{}%</text>)", L - 6, H - B - (H - B - T) * i / 4.0 + 4, i * 25);
  }
  size_t g = 0;
  for (const auto& [steps, unused] : levels) {
    double gx = L + group * double(g) + group * 0.1;
    s += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle">{} steps</text>)", gx + group * 0.4, H - B + 16,
                     steps == 0 ? std::string("?") : std::to_string(steps));
    for (size_t i = 0; i < reports.size(); ++i) {
      int n = 0, ok = 0;
      for (const auto& o : reports[i].outcomes) {
        if (o.steps == steps) {
          ++n;
          ok += o.correct ? 1 : 0;
        }
      }
      double acc = n ? double(ok) / n : 0;
      double h = (H - B - T) * acc;
      s += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {}/{}</title></rect>)",
                       gx + bar * double(i), H - B - h, bar * 0.95, h, kColours[i % 8], html_escape(reports[i].name), ok, n);
    }
    ++g;
  }
  return s + "</svg>";
}

}  // namespace

std::string report_table(const std::vector<StrategyReport>& reports) {
  std::string s = fmt::format("| {:<22} | {:>9} | {:>15} | {:>11} | {:>9} | {:>9} |\n", "strategy", "accuracy",
                              "95% CI", "mean tokens", "tokens/s", "wall s");
  s += fmt::format("|{:-<24}|{:->11}|{:->17}|{:->13}|{:->11}|{:->11}|\n", "", "", "", "", "", "");
  for (const auto& r : reports) {
    auto [lo, hi] = r.confidence_interval();
    s += fmt::format("| {:<22} | {:>8.1f}% | {:>6.1f}% - {:>5.1f}% | {:>11.1f} | {:>9.1f} | {:>9.1f} |\n", r.name,
                     100 * r.accuracy(), 100 * lo, 100 * hi, r.mean_tokens(), r.tokens_per_second(), r.seconds);
  }
  return s;
}

nlohmann::json report_json(const std::vector<StrategyReport>& reports, const EvalMeta& meta) {
  nlohmann::json j;
  j["model"] = meta.model;
  j["tasks"] = meta.tasks;
  j["answer_pattern"] = meta.answer_pattern;
  j["seed"] = meta.seed;
  j["strategies"] = nlohmann::json::array();
  for (const auto& r : reports) {
    auto [lo, hi] = r.confidence_interval();
    nlohmann::json s = {{"name", r.name},          {"n", r.outcomes.size()},       {"correct", r.correct()},
                        {"accuracy", r.accuracy()}, {"ci95", {lo, hi}},            {"mean_tokens", r.mean_tokens()},
                        {"tokens_per_second", r.tokens_per_second()},              {"seconds", r.seconds},
                        {"thinking_inserted", r.inserted}};
    nlohmann::json states;
    for (size_t k = 0; k < 5; ++k) states[state_name(static_cast<State>(k))] = r.state_counts[k];
    s["states"] = states;
    s["tasks"] = nlohmann::json::array();
    for (const auto& o : r.outcomes) {
      s["tasks"].push_back({{"id", o.task_id}, {"steps", o.steps}, {"expected", o.expected}, {"got", o.got},
                            {"correct", o.correct}, {"tokens", o.tokens}, {"seconds", o.seconds}, {"text", o.text}});
    }
    j["strategies"].push_back(std::move(s));
  }
  return j;
}

std::string report_json_text(const std::vector<StrategyReport>& reports, const EvalMeta& meta) {
  return json_text(report_json(reports, meta), 2) + "\n";
}

std::string report_html(const std::vector<StrategyReport>& reports, const EvalMeta& meta) {
  std::string s = "<!doctype html><html><head><meta charset=\"utf-8\"><title>entropix eval</title>"
                  "<style>body{font-family:sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse}"
                  "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child{text-align:left}</style>"
                  "</head><body><h1>entropix evaluation</h1>";
  s += fmt::format("<p>model <code>{}</code>, tasks <code>{}</code>, seed {}, answer rule <code>{}</code> "
                   "(else the last integer of the text)</p>",
                   html_escape(meta.model), html_escape(meta.tasks), meta.seed, html_escape(meta.answer_pattern));
  s += "<table><tr><th>strategy</th><th>accuracy</th><th>95% CI</th><th>mean tokens</th><th>tokens/s</th><th>wall s</th></tr>";
  for (const auto& r : reports) {
    auto [lo, hi] = r.confidence_interval();
    s += fmt::format("<tr><td>{}</td><td>{:.1f}% ({}/{})</td><td>{:.1f}% - {:.1f}%</td><td>{:.1f}</td><td>{:.1f}</td><td>{:.1f}</td></tr>",
                     html_escape(r.name), 100 * r.accuracy(), r.correct(), r.outcomes.size(), 100 * lo, 100 * hi,
                     r.mean_tokens(), r.tokens_per_second(), r.seconds);
  }
  s += "</table><h2>Accuracy against tokens spent</h2>" + accuracy_vs_tokens_svg(reports);
  s += "<h2>Uncertainty states of generated tokens</h2>" + states_svg(reports);
  s += "<h2>Accuracy by difficulty</h2>" + difficulty_svg(reports);
  s += "</body></html>\n";
  return s;
}

}  // namespace entropix
