// Model specs (owner/repo[:FILE|:QUANT]), quantization tags and the choice of a file.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "hub/model_spec.h"

using namespace entropix::hub;

namespace {

// The message of the Error `f` throws; fails the test if it throws none.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const entropix::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an entropix::Error";
  return "";
}

const std::vector<std::string> kFiles = {
    ".gitattributes",
    "README.md",
    "Llama-3.2-1B-Instruct-Q4_K_M.gguf",
    "Llama-3.2-1B-Instruct-Q4_K_S.gguf",
    "Llama-3.2-1B-Instruct-Q4_0.gguf",
    "Llama-3.2-1B-Instruct-Q4_0_4_4.gguf",
    "Llama-3.2-1B-Instruct-Q8_0.gguf",
    "Llama-3.2-1B-Instruct-IQ4_XS.gguf",
    "Llama-3.2-1B-Instruct-f16.gguf",
};

}  // namespace

TEST(HubSpec, ParsesTheAcceptedForms) {
  auto s = parse_model_spec("bartowski/Llama-3.2-1B-Instruct-GGUF");
  EXPECT_EQ(s.repo, "bartowski/Llama-3.2-1B-Instruct-GGUF");
  EXPECT_EQ(s.file, "");
  EXPECT_EQ(s.quant, "");
  s = parse_model_spec("bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M");
  EXPECT_EQ(s.quant, "Q4_K_M");
  EXPECT_EQ(s.file, "");
  s = parse_model_spec("bartowski/Llama-3.2-1B-Instruct-GGUF:Llama-3.2-1B-Instruct-Q8_0.gguf");
  EXPECT_EQ(s.file, "Llama-3.2-1B-Instruct-Q8_0.gguf");
  EXPECT_EQ(s.quant, "");
  s = parse_model_spec("owner/repo:sub/dir/x.GGUF");
  EXPECT_EQ(s.file, "sub/dir/x.GGUF");
  s = parse_model_spec("owner/repo/sub/x.gguf");
  EXPECT_EQ(s.repo, "owner/repo");
  EXPECT_EQ(s.file, "sub/x.gguf");
}

TEST(HubSpec, RejectsMalformedSpecsSayingTheExpectedForm) {
  for (const char* bad : {"", "justaname", "owner/", "/repo", "owner/repo:", "own er/repo", "../repo",
                          "owner/..", "owner/repo:../../etc/passwd.gguf", "owner/repo/a.gguf:Q4_K_M",
                          "owner/repo/x//y.gguf", "owner/repo:./x.gguf"}) {
    const auto message = error_of([&] { parse_model_spec(bad); });
    EXPECT_NE(message.find("owner/repo"), std::string::npos) << bad << ": " << message;
  }
  EXPECT_THROW(check_repo_file("/abs/x.gguf"), entropix::Error);
  EXPECT_THROW(check_repo_file("a\\..\\x.gguf"), entropix::Error);
  EXPECT_NO_THROW(check_repo_file("a/b.c/x.gguf"));
}

TEST(HubSpec, QuantTagFromFileNames) {
  EXPECT_EQ(quant_of("Llama-3.2-1B-Instruct-Q4_K_M.gguf"), "Q4_K_M");
  EXPECT_EQ(quant_of("qwen2.5-0.5b-instruct-q8_0.gguf"), "Q8_0");
  EXPECT_EQ(quant_of("Llama-3.2-1B-Instruct-IQ4_XS.gguf"), "IQ4_XS");
  EXPECT_EQ(quant_of("Llama-3.2-1B-Instruct-f16.gguf"), "F16");
  EXPECT_EQ(quant_of("model.BF16.gguf"), "BF16");
  EXPECT_EQ(quant_of("sub/Model-Q5_K_S-00001-of-00002.gguf"), "Q5_K_S");
  EXPECT_EQ(quant_of("stories260K.gguf"), "");
  EXPECT_EQ(quant_of("Qwen3-0.6B.gguf"), "");
}

TEST(HubSpec, QuantMatchingPrefersExactTagsCaseInsensitively) {
  EXPECT_EQ(match_quant(kFiles, "q4_k_m"), std::vector<std::string>{"Llama-3.2-1B-Instruct-Q4_K_M.gguf"});
  // Q4_0 is exactly one file's tag, though Q4_0_4_4 contains it.
  EXPECT_EQ(match_quant(kFiles, "Q4_0"), std::vector<std::string>{"Llama-3.2-1B-Instruct-Q4_0.gguf"});
  // No file is exactly Q4_K: the files containing it are the candidates.
  EXPECT_EQ(match_quant(kFiles, "Q4_K"), (std::vector<std::string>{"Llama-3.2-1B-Instruct-Q4_K_M.gguf",
                                                                   "Llama-3.2-1B-Instruct-Q4_K_S.gguf"}));
  EXPECT_TRUE(match_quant(kFiles, "Q6_K").empty());
  EXPECT_TRUE(match_quant({"README.md"}, "README").empty());  // only .gguf files count
}

TEST(HubSpec, SelectsByFileQuantOrDefault) {
  EXPECT_EQ(select_file(kFiles, {"o/r", "Llama-3.2-1B-Instruct-f16.gguf", ""}),
            "Llama-3.2-1B-Instruct-f16.gguf");
  EXPECT_EQ(select_file(kFiles, {"o/r", "", "iq4_xs"}), "Llama-3.2-1B-Instruct-IQ4_XS.gguf");
  EXPECT_EQ(select_file(kFiles, {"o/r", "", ""}), "Llama-3.2-1B-Instruct-Q4_K_M.gguf");
  EXPECT_EQ(select_file({"a-Q8_0.gguf", "a-F16.gguf"}, {"o/r", "", ""}), "a-Q8_0.gguf");
  EXPECT_EQ(select_file({"README.md", "stories260K.gguf"}, {"o/r", "", ""}), "stories260K.gguf");
}

TEST(HubSpec, SelectionErrorsListTheCandidates) {
  auto message = error_of([&] { select_file(kFiles, {"o/r", "", "Q4_K"}); });
  EXPECT_NE(message.find("ambiguous"), std::string::npos) << message;
  EXPECT_NE(message.find("Llama-3.2-1B-Instruct-Q4_K_M.gguf"), std::string::npos) << message;
  EXPECT_NE(message.find("Llama-3.2-1B-Instruct-Q4_K_S.gguf"), std::string::npos) << message;
  EXPECT_EQ(message.find("Q8_0"), std::string::npos) << message;

  message = error_of([&] { select_file(kFiles, {"o/r", "", "Q6_K"}); });
  EXPECT_NE(message.find("no .gguf file in repository o/r matches quantization 'Q6_K'"), std::string::npos)
      << message;
  EXPECT_NE(message.find("Llama-3.2-1B-Instruct-Q8_0.gguf"), std::string::npos) << message;

  message = error_of([&] { select_file(kFiles, {"o/r", "missing.gguf", ""}); });
  EXPECT_NE(message.find("file 'missing.gguf' not found in repository o/r"), std::string::npos) << message;

  message = error_of([&] { select_file({"a-Q5_K_M.gguf", "a-Q6_K.gguf", "README.md"}, {"o/r", "", ""}); });
  EXPECT_NE(message.find("a-Q5_K_M.gguf"), std::string::npos) << message;
  EXPECT_NE(message.find("a-Q6_K.gguf"), std::string::npos) << message;
  EXPECT_EQ(message.find("README.md"), std::string::npos) << message;

  message = error_of([&] { select_file({"README.md"}, {"o/r", "", ""}); });
  EXPECT_NE(message.find("0 .gguf files"), std::string::npos) << message;
}
