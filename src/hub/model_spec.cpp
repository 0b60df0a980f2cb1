#include "hub/model_spec.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <string_view>

#include "core/error.h"

namespace entropix::hub {
namespace {

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::toupper(c)); });
  return s;
}

bool ends_with_gguf(const std::string& path) {
  return path.size() > 5 && upper(path.substr(path.size() - 5)) == ".GGUF";
}

std::string base_name(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool is_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

bool is_upper_alnum(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) || std::isupper(c); });
}

// A quantization tag as llama.cpp's file names spell it, `tag` already in upper case:
// I?Q<digits>(_<A-Z0-9>+)*, BF16, F16, F32, TQ<digit>_<digit> or MXFP4.
bool is_quant_tag(std::string_view tag) {
  if (tag == "BF16" || tag == "F16" || tag == "F32" || tag == "MXFP4") return true;
  if (tag.size() == 5 && tag.substr(0, 2) == "TQ" && std::isdigit(static_cast<unsigned char>(tag[2])) &&
      tag[3] == '_' && std::isdigit(static_cast<unsigned char>(tag[4])))
    return true;
  if (tag.starts_with('I')) tag.remove_prefix(1);
  if (!tag.starts_with('Q')) return false;
  tag.remove_prefix(1);
  auto underscore = tag.find('_');
  if (!is_digits(tag.substr(0, underscore))) return false;
  while (underscore != std::string_view::npos) {
    tag.remove_prefix(underscore + 1);
    underscore = tag.find('_');
    if (!is_upper_alnum(tag.substr(0, underscore))) return false;
  }
  return true;
}

// owner or name of a repository id: letters, digits, '.', '_', '-'; not "." or "..".
bool is_repo_part(std::string_view part) {
  return !part.empty() && part != "." && part != ".." &&
         std::all_of(part.begin(), part.end(), [](unsigned char c) { return std::isalnum(c) || c == '.' || c == '_' || c == '-'; });
}

std::vector<std::string> gguf_files(const std::vector<std::string>& files) {
  std::vector<std::string> out;
  std::copy_if(files.begin(), files.end(), std::back_inserter(out), ends_with_gguf);
  return out;
}

std::string list_for_error(const std::vector<std::string>& files) {
  if (files.empty()) return "(none)";
  return fmt::format("\n  {}", fmt::join(files, "\n  "));
}

}  // namespace

void check_repo_id(const std::string& repo) {
  const auto slash = repo.find('/');
  if (slash == std::string::npos || !is_repo_part(repo.substr(0, slash)) || !is_repo_part(repo.substr(slash + 1)))
    throw Error(
        fmt::format("expected a hub repository as owner/name (letters, digits, '.', '_', '-'), "
                    "found '{}'",
                    repo));
}

void check_repo_file(const std::string& file) {
  std::size_t start = 0;
  while (true) {
    const auto slash = file.find('/', start);
    const std::string part =
        file.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part.empty() || part == "." || part == ".." || part.find('\\') != std::string::npos ||
        part.find('\0') != std::string::npos)
      throw Error(fmt::format("expected a relative file path inside the repository, found '{}'", file));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
}

ModelSpec parse_model_spec(const std::string& spec) {
  ModelSpec out;
  const auto colon = spec.find(':');
  std::string head = spec.substr(0, colon);
  if (colon != std::string::npos) {
    const std::string tail = spec.substr(colon + 1);
    if (tail.empty())
      throw Error(fmt::format("expected a file name or quantization tag after ':' in '{}'", spec));
    (ends_with_gguf(tail) ? out.file : out.quant) = tail;
  }
  const auto first = head.find('/');
  const auto second = first == std::string::npos ? std::string::npos : head.find('/', first + 1);
  if (second != std::string::npos) {
    if (!out.file.empty() || !out.quant.empty())
      throw Error(fmt::format("expected owner/repo:FILE or owner/repo/FILE, found both in '{}'", spec));
    out.file = head.substr(second + 1);
    head.resize(second);
  }
  try {
    check_repo_id(head);
    if (!out.file.empty()) check_repo_file(out.file);
  } catch (const Error& e) {
    throw Error(fmt::format("in model spec '{}' (form: owner/repo[:FILE.gguf|:QUANT]): {}", spec, e.what()));
  }
  out.repo = head;
  return out;
}

std::string quant_of(const std::string& file) {
  std::string stem = base_name(file);
  if (ends_with_gguf(stem)) stem.resize(stem.size() - 5);
  std::string found;
  std::size_t start = 0;
  while (start <= stem.size()) {
    const auto end = stem.find_first_of("-.", start);
    const std::string token = stem.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (is_quant_tag(upper(token))) found = upper(token);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return found;
}

std::vector<std::string> match_quant(const std::vector<std::string>& files, const std::string& tag) {
  const std::string want = upper(tag);
  std::vector<std::string> exact, partial;
  for (const auto& file : gguf_files(files)) {
    if (quant_of(file) == want)
      exact.push_back(file);
    else if (upper(base_name(file)).find(want) != std::string::npos)
      partial.push_back(file);
  }
  return exact.empty() ? partial : exact;
}

std::string select_file(const std::vector<std::string>& files, const ModelSpec& spec) {
  const auto ggufs = gguf_files(files);
  if (!spec.file.empty()) {
    if (std::find(files.begin(), files.end(), spec.file) != files.end()) return spec.file;
    throw Error(fmt::format("file '{}' not found in repository {}; its .gguf files: {}", spec.file, spec.repo,
                            list_for_error(ggufs)));
  }
  if (!spec.quant.empty()) {
    const auto matches = match_quant(files, spec.quant);
    if (matches.size() == 1) return matches.front();
    if (matches.empty())
      throw Error(fmt::format("no .gguf file in repository {} matches quantization '{}'; its .gguf files: {}",
                              spec.repo, spec.quant, list_for_error(ggufs)));
    throw Error(
        fmt::format("quantization '{}' is ambiguous in repository {}; name one file with "
                    "{}:FILE.gguf; candidates: {}",
                    spec.quant, spec.repo, spec.repo, list_for_error(matches)));
  }
  for (const char* preferred : {"Q4_K_M", "Q8_0"}) {
    const auto matches = match_quant(files, preferred);
    if (matches.size() == 1) return matches.front();
  }
  if (ggufs.size() == 1) return ggufs.front();
  throw Error(
      fmt::format("repository {} has {} .gguf files and none is a unique Q4_K_M or Q8_0; "
                  "choose one with {}:QUANT or {}:FILE.gguf: {}",
                  spec.repo, ggufs.size(), spec.repo, spec.repo, list_for_error(ggufs)));
}

}  // namespace entropix::hub
