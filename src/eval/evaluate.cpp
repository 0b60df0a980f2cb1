#include "eval/evaluate.h"

#include <chrono>
#include <algorithm>
#include <cmath>
#include <limits>

#include "tokenizer/tokenizer.h"

namespace entropix {

int32_t StrategyReport::correct() const {
  int32_t n = 0;
  for (const auto& o : outcomes) n += o.correct ? 1 : 0;
  return n;
}

double StrategyReport::accuracy() const { return outcomes.empty() ? 0.0 : double(correct()) / double(outcomes.size()); }

std::pair<double, double> StrategyReport::confidence_interval() const {
  const double n = double(outcomes.size()), z = 1.959964;
  if (n == 0) return {0.0, 0.0};
  const double p = accuracy();
  const double centre = (p + z * z / (2 * n)) / (1 + z * z / n);
  const double half = z * std::sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n);
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

double StrategyReport::mean_tokens() const {
  if (outcomes.empty()) return 0.0;
  double sum = 0;
  for (const auto& o : outcomes) sum += double(o.tokens);
  return sum / double(outcomes.size());
}

double StrategyReport::tokens_per_second() const {
  double tokens = 0;
  for (const auto& o : outcomes) tokens += double(o.tokens);
  return seconds > 0 ? tokens / seconds : 0.0;
}

double StrategyReport::tokens_per_correct() const {
  double tokens = 0;
  for (const auto& o : outcomes) tokens += double(o.tokens);
  const int32_t ok = correct();
  return ok > 0 ? tokens / ok : std::numeric_limits<double>::infinity();
}

std::vector<CalibrationBin> calibration_bins(const StrategyReport& report) {
  std::vector<CalibrationBin> bins(kCalibrationBins);
  for (const auto& o : report.outcomes) {
    const double c = std::clamp(o.confidence, 0.0, 1.0);
    CalibrationBin& b = bins[std::min<size_t>(static_cast<size_t>(c * kCalibrationBins), kCalibrationBins - 1)];
    b.n += 1;
    b.mean_confidence += c;
    b.accuracy += o.correct ? 1.0 : 0.0;
  }
  for (auto& b : bins) {
    if (b.n == 0) continue;
    b.mean_confidence /= b.n;
    b.accuracy /= b.n;
  }
  return bins;
}

double StrategyReport::calibration_error() const {
  if (outcomes.empty()) return 0.0;
  double e = 0;
  for (const auto& b : calibration_bins(*this)) e += double(b.n) * std::abs(b.accuracy - b.mean_confidence);
  return e / double(outcomes.size());
}

std::vector<StrategyReport> evaluate(Engine& engine, const std::vector<EvalTask>& tasks,
                                     const std::vector<StrategyOptions>& strategies,
                                     const std::function<void(const EvalProgress&)>& on_progress) {
  std::vector<StrategyReport> reports;
  EvalProgress progress;
  progress.total = tasks.size() * strategies.size();
  for (const StrategyOptions& s : strategies) {
    StrategyReport rep;
    rep.name = s.name;
    progress.strategy = s.name;
    for (size_t i = 0; i < tasks.size(); ++i) {
      const EvalTask& task = tasks[i];
      StrategyOptions o = s;
      o.decode.seed = s.decode.seed + i;  // each task its own stream; same seed, same results
      std::vector<int32_t> prompt = engine.tokenizer().encode(task.prompt, true, false);
      auto start = std::chrono::steady_clock::now();
      StrategyResult r = run_strategy(engine, prompt, o);
      TaskOutcome out;
      out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      out.task_id = task.id;
      out.steps = task.steps;
      out.expected = task.answer;
      out.got = r.answer.value_or("");
      out.correct = r.answer && *r.answer == task.answer;
      out.tokens = r.tokens_spent;
      out.confidence = r.confidence;
      out.text = r.text;
      for (size_t k = 0; k < 5; ++k) rep.state_counts[k] += r.state_counts[k];
      rep.inserted += r.n_inserted;
      rep.seconds += out.seconds;
      rep.outcomes.push_back(std::move(out));
      ++progress.done;
      if (on_progress) on_progress(progress);
    }
    reports.push_back(std::move(rep));
  }
  return reports;
}

}  // namespace entropix
