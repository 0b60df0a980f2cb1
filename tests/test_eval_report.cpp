// The evaluation's results file: every task is written, whatever bytes a sampled
// completion holds.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "eval/report.h"

using namespace entropix;

TEST(EvalReport, ResultsFileKeepsEveryTaskWhenATextIsNotUtf8) {
  StrategyReport r;
  r.name = "standard";
  // A lone lead byte (0xC1 is never valid), a character cut after its first byte,
  // and a clean text.
  r.outcomes.push_back({"1", 2, "18", "18", true, 12, 0.5, " 20 - 2 = 18.\xC1 The answer is 18."});
  r.outcomes.push_back({"2", 1, "7", "", false, 9, 0.25, " 3 + 4 = \xE2\x82"});
  r.outcomes.push_back({"3", 1, "5", "5", true, 8, 0.25, " 2 + 3 = 5. The answer is 5."});
  r.seconds = 1.0;
  const std::string text = report_json_text({r}, EvalMeta{"m.gguf", "t.jsonl", "", 7});
  const auto j = nlohmann::json::parse(text);  // throws if the file is not valid JSON/UTF-8
  const auto& tasks = j["strategies"][0]["tasks"];
  ASSERT_EQ(tasks.size(), 3u);
  EXPECT_EQ(tasks[0]["text"], " 20 - 2 = 18.\xEF\xBF\xBD The answer is 18.");
  EXPECT_EQ(tasks[1]["text"], " 3 + 4 = \xEF\xBF\xBD");
  EXPECT_EQ(tasks[2]["text"], " 2 + 3 = 5. The answer is 5.");
  EXPECT_EQ(tasks[1]["correct"], false);
  EXPECT_EQ(j["strategies"][0]["correct"], 2);
  EXPECT_EQ(j["seed"], 7);
}

namespace {

StrategyReport report_of(const std::string& name, const std::vector<std::pair<double, bool>>& answers, int64_t tokens) {
  StrategyReport r;
  r.name = name;
  for (size_t i = 0; i < answers.size(); ++i) {
    TaskOutcome o;
    o.task_id = std::to_string(i);
    o.correct = answers[i].second;
    o.confidence = answers[i].first;
    o.tokens = tokens;
    r.outcomes.push_back(o);
  }
  r.seconds = 1.0;
  return r;
}

}  // namespace

TEST(EvalReport, CalibrationErrorWeighsEachBinsGapByItsShare) {
  // Bin [0.9, 1]: three answers at 0.95 and one at 1.0 (the last bin holds 1.0), three
  // right (gap 0.9625 - 0.75); bin [0.2, 0.3): two at 0.25, one right (gap 0.25).
  const StrategyReport r = report_of("v", {{0.95, true}, {0.95, true}, {0.95, false}, {1.0, true},
                                           {0.25, true}, {0.25, false}}, 10);
  const auto bins = calibration_bins(r);
  ASSERT_EQ(bins.size(), static_cast<size_t>(kCalibrationBins));
  EXPECT_EQ(bins[9].n, 4);
  EXPECT_NEAR(bins[9].mean_confidence, 0.9625, 1e-12);
  EXPECT_NEAR(bins[9].accuracy, 0.75, 1e-12);
  EXPECT_EQ(bins[2].n, 2);
  EXPECT_NEAR(r.calibration_error(), (4 * 0.2125 + 2 * 0.25) / 6.0, 1e-12);
  EXPECT_NEAR(r.tokens_per_correct(), 60.0 / 4.0, 1e-12);
  // A perfectly calibrated report: confidence 0.5, half right.
  EXPECT_NEAR(report_of("c", {{0.5, true}, {0.5, false}}, 1).calibration_error(), 0.0, 1e-12);

  const auto j = report_json({r}, EvalMeta{"m.gguf", "t.jsonl", "", 0});
  EXPECT_NEAR(j["strategies"][0]["calibration_error"].get<double>(), r.calibration_error(), 1e-12);
  EXPECT_NEAR(j["strategies"][0]["tokens_per_correct"].get<double>(), 15.0, 1e-12);
  EXPECT_EQ(j["strategies"][0]["calibration"].size(), static_cast<size_t>(kCalibrationBins));
  EXPECT_EQ(j["strategies"][0]["tasks"][0]["confidence"], 0.95);
  // No correct answer: tokens per correct answer is null, not a number JSON cannot hold.
  EXPECT_TRUE(report_json({report_of("w", {{0.9, false}}, 5)}, EvalMeta{})["strategies"][0]["tokens_per_correct"].is_null());
}

TEST(EvalReport, AccuracyPlotIsLogScaledLabelledAndDrawsTheParetoFront) {
  // cheap-bad is on the front (cheapest), mid dominates slow-bad, best is the most accurate.
  const std::vector<StrategyReport> reports = {
      report_of("cheap-bad", {{0.5, true}, {0.5, false}}, 30), report_of("mid", {{0.5, true}, {0.5, true}, {0.5, false}}, 60),
      report_of("slow-bad", {{0.5, true}, {0.5, false}}, 300), report_of("best", {{0.5, true}}, 280)};
  const std::string page = report_html(reports, EvalMeta{"m.gguf", "t.jsonl", "", 0});
  const size_t plot = page.find("Accuracy against tokens spent</h2>");
  ASSERT_NE(plot, std::string::npos);
  const std::string html = page.substr(plot, page.find("</svg>", plot) - plot);
  EXPECT_NE(html.find("log scale"), std::string::npos);
  for (const auto& r : reports) EXPECT_NE(html.find(">" + r.name + "</text>"), std::string::npos) << r.name;
  const size_t at = html.find("class=\"pareto\" points=\"");
  ASSERT_NE(at, std::string::npos);
  const std::string points = html.substr(at, html.find('"', at + 23) - at);
  // Three front points (cheap-bad, mid, best) and a step before each after the first: 5 vertices.
  EXPECT_EQ(std::count(points.begin(), points.end(), ','), 5) << points;
  EXPECT_NE(page.find("Calibration</h2>"), std::string::npos);
  EXPECT_NE(page.find("(ECE 0.000)"), std::string::npos);
}

// Strategies at one spot (entropix and entropix-branch often are) keep readable labels:
// no two labels on one side of the points share a line of text.
TEST(EvalReport, LabelsOfPointsAtOneSpotDoNotCoverEachOther) {
  std::vector<StrategyReport> reports;
  for (const char* name : {"alpha", "beta", "gamma", "delta"})
    reports.push_back(report_of(name, {{0.5, true}, {0.5, false}}, 40));
  const std::string page = report_html(reports, EvalMeta{"m.gguf", "t.jsonl", "", 0});
  const size_t plot = page.find("Accuracy against tokens spent</h2>");
  ASSERT_NE(plot, std::string::npos);
  const std::string html = page.substr(plot, page.find("</svg>", plot) - plot);
  struct Label {
    double x, y;
    std::string anchor;
  };
  std::vector<Label> labels;
  for (const auto& r : reports) {
    const size_t end = html.find(">" + r.name + "</text>");
    ASSERT_NE(end, std::string::npos) << r.name;
    const size_t start = html.rfind("<text ", end);
    const std::string tag = html.substr(start, end - start);
    auto attr = [&](const std::string& key) {
      const size_t a = tag.find(key + "=\"") + key.size() + 2;
      return tag.substr(a, tag.find('"', a) - a);
    };
    labels.push_back({std::stod(attr("x")), std::stod(attr("y")), attr("text-anchor")});
  }
  for (size_t i = 0; i < labels.size(); ++i)
    for (size_t j = i + 1; j < labels.size(); ++j)
      if (labels[i].anchor == labels[j].anchor && std::abs(labels[i].x - labels[j].x) < 1) {
        EXPECT_GE(std::abs(labels[i].y - labels[j].y), 12.0) << reports[i].name << " and " << reports[j].name;
      }
}
