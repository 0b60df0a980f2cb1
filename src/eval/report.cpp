#include "eval/report.h"

#include <algorithm>
#include <cmath>
#include <fmt/core.h>
#include <iterator>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "core/html_escape.h"
#include "core/json_text.h"
#include "entropix/policy.h"

namespace entropix {

namespace {

const char* kColours[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                          "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#5f6b73"};
constexpr size_t kNColours = std::size(kColours);

// A plot's opening tag: drawn in a W x H box, scaled down with the page on narrow screens.
std::string svg_open(double w, double h) {
  return fmt::format(R"(<svg width="{0}" height="{1}" viewBox="0 0 {0} {1}" xmlns="http://www.w3.org/2000/svg" font-size="12">)", w, h);
}

// A text label's box in the plot, to keep labels from covering each other.
struct LabelBox {
  double x0, y0, x1, y1;
  bool overlaps(const LabelBox& o) const { return x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1; }
};

// Where a point's label goes: the first spot around the point (right or left of it,
// above or below, then further out) that covers no label placed before, no point and
// stays inside the plot [left, right] x [top, bottom]; the first spot when none is free.
struct LabelSpot {
  double x, y;
  bool end_anchor;
};
LabelSpot place_label(double px, double py, size_t chars, const LabelBox& plot, std::vector<LabelBox>& placed,
                      const std::vector<std::pair<double, double>>& points) {
  const double w = 6.8 * static_cast<double>(chars), h = 12;
  const double dys[] = {-9, 16, -22, 29, -35, 42};
  std::optional<std::pair<LabelSpot, LabelBox>> first;
  for (double dy : dys) {
    for (bool end_anchor : {false, true}) {
      const double x = end_anchor ? px - 7 : px + 7, y = py + dy;
      const LabelBox box{end_anchor ? x - w : x, y - h + 2, end_anchor ? x : x + w, y + 3};
      if (!first) first = {{x, y, end_anchor}, box};
      if (box.x0 < plot.x0 || box.x1 > plot.x1 || box.y0 < plot.y0 || box.y1 > plot.y1) continue;
      bool free = std::none_of(placed.begin(), placed.end(), [&](const LabelBox& b) { return b.overlaps(box); });
      for (const auto& [qx, qy] : points) free = free && !box.overlaps({qx - 5, qy - 5, qx + 5, qy + 5});
      if (free) {
        placed.push_back(box);
        return {x, y, end_anchor};
      }
    }
  }
  placed.push_back(first->second);
  return first->first;
}

// Accuracy (y) against mean tokens spent per problem (x, log scale: the single-answer
// strategies sit near each other, the voting ones an order of magnitude right), one
// labelled point per strategy with its 95% interval, and the Pareto front: the
// strategies no other beats on both accuracy and tokens.
std::string accuracy_vs_tokens_svg(const std::vector<StrategyReport>& reports) {
  const double W = 640, H = 360, L = 60, B = 44, T = 20, R = 30;
  double lo_t = 1e300, hi_t = 1;
  for (const auto& r : reports) {
    lo_t = std::min(lo_t, std::max(r.mean_tokens(), 1.0));
    hi_t = std::max(hi_t, std::max(r.mean_tokens(), 1.0));
  }
  if (reports.empty()) lo_t = 1;
  // Whole decades around the points, so that the ticks 1, 2, 5 x 10^k fall inside.
  const double x0 = std::floor(std::log10(lo_t)), x1 = std::max(std::ceil(std::log10(hi_t * 1.05)), x0 + 1);
  auto xpos = [&](double tokens) { return L + (W - R - L) * (std::log10(std::max(tokens, 1.0)) - x0) / (x1 - x0); };
  auto ypos = [&](double a) { return H - B - (H - B - T) * a; };
  std::string s = svg_open(W, H);
  s += fmt::format(R"(<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" stroke="#333"/><line x1="{0}" y1="{3}" x2="{0}" y2="{1}" stroke="#333"/>)",
                   L, H - B, W - R, T);
  for (int i = 0; i <= 4; ++i) {
    const double y = ypos(i / 4.0);
    s += fmt::format(R"(<text x="{}" y="{}" text-anchor="end">{}%</text>)", L - 6, y + 4, i * 25);
    s += fmt::format(R"(<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#eee"/>)", L, y, W - R, y);
  }
  for (double d = x0; d < x1 + 0.5; d += 1) {
    for (double m : {1.0, 2.0, 5.0}) {
      const double v = m * std::pow(10.0, d);
      if (std::log10(v) > x1 + 1e-9) break;
      const double x = xpos(v);
      s += fmt::format(R"(<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="{3}"/>)", x, T, H - B, m == 1.0 ? "#ddd" : "#f2f2f2");
      s += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle">{:g}</text>)", x, H - B + 16, v);
    }
  }
  s += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle">mean tokens spent per problem (log scale)</text>)", (L + W - R) / 2, H - 8);
  // The Pareto front: by tokens, each point more accurate than every cheaper one.
  std::vector<size_t> order(reports.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return reports[a].mean_tokens() < reports[b].mean_tokens() ||
           (reports[a].mean_tokens() == reports[b].mean_tokens() && reports[a].accuracy() > reports[b].accuracy());
  });
  std::string front;
  double best = -1;
  for (size_t i : order) {
    if (reports[i].accuracy() <= best) continue;
    const double x = xpos(reports[i].mean_tokens()), y = ypos(reports[i].accuracy());
    if (!front.empty()) front += fmt::format(" {},{}", x, ypos(best));  // a step: no strategy between two points
    front += fmt::format(" {},{}", x, y);
    best = reports[i].accuracy();
  }
  if (!front.empty())
    s += fmt::format(R"(<polyline class="pareto" points="{}" fill="none" stroke="#999" stroke-dasharray="4 3"/>)", front);
  std::vector<std::pair<double, double>> points;
  for (const auto& r : reports) points.emplace_back(xpos(r.mean_tokens()), ypos(r.accuracy()));
  std::vector<LabelBox> labels;
  for (size_t i = 0; i < reports.size(); ++i) {
    const auto& r = reports[i];
    auto [lo, hi] = r.confidence_interval();
    const auto [x, y] = points[i];
    const char* c = kColours[i % kNColours];
    s += fmt::format(R"(<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="{3}"/>)", x, ypos(lo), ypos(hi), c);
    s += fmt::format(R"(<circle cx="{}" cy="{}" r="5" fill="{}"><title>{}: {:.1f}% at {:.1f} tokens</title></circle>)", x, y, c,
                     html_escape(r.name), 100 * r.accuracy(), r.mean_tokens());
    const LabelSpot at = place_label(x, y, r.name.size(), {L, T, W, H - B}, labels, points);
    if (std::abs(at.y - y) > 20)  // a label moved out of its neighbours' way points back at its point
      s += fmt::format(R"(<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-opacity="0.5"/>)", x, y + (at.y < y ? -5 : 5),
                       at.x, at.y < y ? at.y + 3 : at.y - 11, c);
    s += fmt::format(R"(<text x="{}" y="{}" fill="{}" text-anchor="{}">{}</text>)", at.x, at.y, c,
                     at.end_anchor ? "end" : "start", html_escape(r.name));
  }
  return s + "</svg>";
}

// Reliability diagram: accuracy against the strategy's confidence, per bin of
// confidence (kCalibrationBins), one line per strategy; perfect calibration is the diagonal.
std::string reliability_svg(const std::vector<StrategyReport>& reports) {
  // The legend sits right of the square plot, with room for the longest strategy names.
  const double H = 360, L = 50, B = 44, T = 20, S = H - B - T, W = L + S + 20, R = 260;
  std::string s = svg_open(W + R, H);
  auto xpos = [&](double c) { return L + S * c; };
  auto ypos = [&](double a) { return H - B - S * a; };
  s += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#333"/>)", L, T, S, S);
  s += fmt::format(R"(<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#bbb" stroke-dasharray="4 3"/>)", xpos(0), ypos(0), xpos(1), ypos(1));
  for (int i = 0; i <= 4; ++i) {
    s += fmt::format(R"(<text x="{}" y="{}" text-anchor="end">{}%</text>)", L - 6, ypos(i / 4.0) + 4, i * 25);
    s += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle">{}%</text>)", xpos(i / 4.0), H - B + 16, i * 25);
  }
  s += fmt::format(R"(<text x="{}" y="{}" text-anchor="middle">confidence</text>)", L + S / 2, H - 8);
  s += fmt::format(R"svg(<text x="14" y="{}" text-anchor="middle" transform="rotate(-90 14 {})">accuracy</text>)svg", T + S / 2, T + S / 2);
  for (size_t i = 0; i < reports.size(); ++i) {
    const char* c = kColours[i % kNColours];
    const auto bins = calibration_bins(reports[i]);
    std::string line;
    for (const auto& b : bins) {
      if (b.n == 0) continue;
      const double x = xpos(b.mean_confidence), y = ypos(b.accuracy);
      line += fmt::format(" {},{}", x, y);
      // Area follows the bin's share of the answers.
      const double radius = 2 + 8 * std::sqrt(double(b.n) / double(std::max<size_t>(reports[i].outcomes.size(), 1)));
      s += fmt::format(R"(<circle cx="{}" cy="{}" r="{:.1f}" fill="{}" fill-opacity="0.6"><title>{}: {} answers, confidence {:.2f}, accuracy {:.2f}</title></circle>)",
                       x, y, radius, c, html_escape(reports[i].name), b.n, b.mean_confidence, b.accuracy);
    }
    if (!line.empty()) s += fmt::format(R"(<polyline points="{}" fill="none" stroke="{}"/>)", line, c);
    s += fmt::format(R"(<rect x="{}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}">{} (ECE {:.3f})</text>)", W + 4,
                     T + 16 * double(i), c, W + 18, T + 16 * double(i) + 9, html_escape(reports[i].name), reports[i].calibration_error());
  }
  return s + "</svg>";
}

// Share of each uncertainty state among generated tokens, a stacked bar per strategy.
std::string states_svg(const std::vector<StrategyReport>& reports) {
  size_t longest = 0;
  for (const auto& r : reports) longest = std::max(longest, r.name.size());
  // The names sit left of the bars, right-aligned: room for the longest.
  const double row = 26, L = std::max(150.0, 12 + 6.8 * double(longest)), W = L + 410;
  const double H = 40 + row * double(reports.size());
  const char* state_colours[] = {"#59a14f", "#e15759", "#edc948", "#b07aa1", "#76b7b2"};
  std::string s = svg_open(W, H);
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
  const double W = 560, H = std::max(300.0, 40 + 16 * double(reports.size())), L = 50, B = 40, T = 20, R = 220;
  const double group = (W - L - 20) / double(std::max<size_t>(levels.size(), 1));
  const double bar = group * 0.8 / double(std::max<size_t>(reports.size(), 1));
  std::string s = svg_open(W + R, H);
  s += fmt::format(R"(<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" stroke="#333"/>)", L, H - B, W - 20);
  for (size_t i = 0; i < reports.size(); ++i)  // which bar is which strategy, in the bars' order
    s += fmt::format(R"(<rect x="{}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}">{}</text>)", W, T + 16 * double(i),
                     kColours[i % kNColours], W + 14, T + 16 * double(i) + 9, html_escape(reports[i].name));
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
                       gx + bar * double(i), H - B - h, bar * 0.95, h, kColours[i % kNColours], html_escape(reports[i].name), ok, n);
    }
    ++g;
  }
  return s + "</svg>";
}

}  // namespace

std::string report_table(const std::vector<StrategyReport>& reports) {
  size_t w = 22;  // the name column fits the longest name
  for (const auto& r : reports) w = std::max(w, r.name.size());
  std::string s = fmt::format("| {:<{}} | {:>9} | {:>15} | {:>11} | {:>14} | {:>5} | {:>9} | {:>9} |\n", "strategy", w,
                              "accuracy", "95% CI", "mean tokens", "tokens/correct", "ECE", "tokens/s", "wall s");
  s += fmt::format("|{:-<{}}|{:->11}|{:->17}|{:->13}|{:->16}|{:->7}|{:->11}|{:->11}|\n", "", w + 2, "", "", "", "", "", "", "");
  for (const auto& r : reports) {
    auto [lo, hi] = r.confidence_interval();
    s += fmt::format("| {:<{}} | {:>8.1f}% | {:>6.1f}% - {:>5.1f}% | {:>11.1f} | {:>14.1f} | {:>5.3f} | {:>9.1f} | {:>9.1f} |\n",
                     r.name, w, 100 * r.accuracy(), 100 * lo, 100 * hi, r.mean_tokens(), r.tokens_per_correct(),
                     r.calibration_error(), r.tokens_per_second(), r.seconds);
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
                        {"thinking_inserted", r.inserted},
                        {"calibration_error", r.calibration_error()}};
    // null when no answer is correct (JSON has no infinity)
    s["tokens_per_correct"] = r.correct() > 0 ? nlohmann::json(r.tokens_per_correct()) : nlohmann::json(nullptr);
    s["calibration"] = nlohmann::json::array();
    for (const auto& b : calibration_bins(r))
      s["calibration"].push_back({{"n", b.n}, {"mean_confidence", b.mean_confidence}, {"accuracy", b.accuracy}});
    nlohmann::json states;
    for (size_t k = 0; k < 5; ++k) states[state_name(static_cast<State>(k))] = r.state_counts[k];
    s["states"] = states;
    s["tasks"] = nlohmann::json::array();
    for (const auto& o : r.outcomes) {
      s["tasks"].push_back({{"id", o.task_id}, {"steps", o.steps}, {"expected", o.expected}, {"got", o.got},
                            {"correct", o.correct}, {"tokens", o.tokens}, {"confidence", o.confidence},
                            {"seconds", o.seconds}, {"text", o.text}});
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
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                  "<style>body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}"
                  "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right;white-space:nowrap}td:first-child{text-align:left}"
                  ".wide{overflow-x:auto}svg{max-width:100%;height:auto}@media(max-width:40em){body{margin:1em}}</style>"
                  "</head><body><h1>entropix evaluation</h1>";
  s += fmt::format("<p>model <code>{}</code>, tasks <code>{}</code>, seed {}, answer rule <code>{}</code> "
                   "(else the last integer of the text)</p>",
                   html_escape(meta.model), html_escape(meta.tasks), meta.seed, html_escape(meta.answer_pattern));
  s += "<div class=\"wide\"><table><tr><th>strategy</th><th>accuracy</th><th>95% CI</th><th>mean tokens</th><th>tokens/correct</th>"
       "<th>ECE</th><th>tokens/s</th><th>wall s</th></tr>";
  for (const auto& r : reports) {
    auto [lo, hi] = r.confidence_interval();
    s += fmt::format("<tr><td>{}</td><td>{:.1f}% ({}/{})</td><td>{:.1f}% - {:.1f}%</td><td>{:.1f}</td><td>{:.1f}</td>"
                     "<td>{:.3f}</td><td>{:.1f}</td><td>{:.1f}</td></tr>",
                     html_escape(r.name), 100 * r.accuracy(), r.correct(), r.outcomes.size(), 100 * lo, 100 * hi,
                     r.mean_tokens(), r.tokens_per_correct(), r.calibration_error(), r.tokens_per_second(), r.seconds);
  }
  s += "</table></div><h2>Accuracy against tokens spent</h2>" + accuracy_vs_tokens_svg(reports);
  s += "<p>Dashed: the Pareto front, the strategies no other beats on both accuracy and tokens.</p>";
  s += "<h2>Calibration</h2><p>Accuracy against each strategy's confidence in its answer (the vote share of "
       "the winner for the voting strategies, the probability of the answer's tokens for one answer), in "
       "bins of confidence; the dot's area is the bin's share of the answers. ECE: the expected calibration "
       "error, the mean distance from the diagonal.</p>" + reliability_svg(reports);
  s += "<h2>Uncertainty states of generated tokens</h2>" + states_svg(reports);
  s += "<h2>Accuracy by difficulty</h2>" + difficulty_svg(reports);
  s += "</body></html>\n";
  return s;
}

}  // namespace entropix
