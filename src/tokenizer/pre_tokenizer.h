// Byte-level BPE pre-tokenizers: split text into words the way llama.cpp does
// for each tokenizer.ggml.pre name, by hand-written matchers that reproduce its
// regexes (including the quirks of its std::regex fallback), with no std::regex.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace entropix {

enum class PreTokenizerKind {
  Default,        // "default" or no name
  Llama3,         // llama3, llama-v3, llama-bpe, falcon3, ..., dbrx, smaug-bpe, chatglm-bpe
  Qwen2,          // qwen2, deepseek-r1-qwen, stablelm2, megrez
  Gpt2,           // gpt-2, phi-2, mpt, olmo, jais, jina-*, roberta-bpe, ...
  Gpt4o,          // gpt-4o (Phi-4-mini), llama4, kanana2, talkie
  DeepseekLlm,    // deepseek-llm
  DeepseekCoder,  // deepseek-coder
  Falcon,         // falcon
  Starcoder,      // starcoder, refact, command-r, smollm, codeshell, exaone, minerva-7b
  Bloom,          // bloom, poro-chat, gpt3-finnish
  Viking,         // viking
};

struct PreTokenizerInfo {
  PreTokenizerKind kind = PreTokenizerKind::Default;
  bool ignore_merges = false;  // a word that is itself a token skips BPE merging
  bool add_bos = false;        // llama.cpp's add_bos default for this name
  bool clear_bos = false;      // llama.cpp drops the default BOS id (chatglm-bpe)
};

// Throws Error for a name llama.cpp does not know (or this port does not support).
PreTokenizerInfo pre_tokenizer_from_name(std::string_view name);

// Splits UTF-8 text into words (UTF-8, not yet byte-encoded). Invalid bytes
// become U+FFFD, as in llama.cpp.
std::vector<std::string> pre_tokenize(PreTokenizerKind kind, std::string_view text);

}  // namespace entropix
