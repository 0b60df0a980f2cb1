// The evaluation's results file: every task is written, whatever bytes a sampled
// completion holds.
#include <gtest/gtest.h>

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
