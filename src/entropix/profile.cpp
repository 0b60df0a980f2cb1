#include "entropix/profile.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <type_traits>

#include "core/cache_dir.h"
#include "core/error.h"
#include "core/file_text.h"

namespace entropix {

namespace {

constexpr const char* kFormat = "entropix-profile";
constexpr int kVersion = 1;

// Every field of the file, by dotted path; one list for reading and writing.
template <class P, class F>
void visit_fields(P& p, F&& f) {
  f("model", p.model);
  f("description", p.description);
  f("policy", p.policy);
  f("use_attention", p.use_attention);
  f("attention_layer", p.attention_layer);
  f("n_alternatives", p.n_alternatives);
  f("branching", p.branching);
  f("thresholds.entropy_low", p.thresholds.entropy_low);
  f("thresholds.entropy_high", p.thresholds.entropy_high);
  f("thresholds.varentropy_low", p.thresholds.varentropy_low);
  f("thresholds.varentropy_high", p.thresholds.varentropy_high);
  f("v2.entropy_medium", p.v2.entropy_medium);
  f("v2.attn_entropy_low", p.v2.attn_entropy_low);
  f("v2.attn_entropy_high", p.v2.attn_entropy_high);
  f("v2.attn_varentropy_low", p.v2.attn_varentropy_low);
  f("v2.attn_varentropy_high", p.v2.attn_varentropy_high);
  f("v2.agreement_low", p.v2.agreement_low);
  f("v2.agreement_high", p.v2.agreement_high);
  f("v2.interaction_low", p.v2.interaction_low);
  f("v2.interaction_high", p.v2.interaction_high);
  f("base.temperature", p.base.temperature);
  f("base.top_p", p.base.top_p);
  f("base.top_k", p.base.top_k);
  f("base.min_p", p.base.min_p);
  f("helv.thinking_text", p.helv.thinking_text);
  f("helv.thinking_budget", p.helv.thinking_budget);
  f("helv.boundary", p.helv.boundary);
  f("helv.temp_base", p.helv.temp_base);
  f("helv.temp_attn_entropy", p.helv.temp_attn_entropy);
  f("helv.temp_max", p.helv.temp_max);
  f("lehv.temp_base", p.lehv.temp_base);
  f("lehv.temp_interaction", p.lehv.temp_interaction);
  f("lehv.temp_max", p.lehv.temp_max);
  f("lehv.top_k_agreement", p.lehv.top_k_agreement);
  f("lehv.top_k_min", p.lehv.top_k_min);
  f("hehv.temp_base", p.hehv.temp_base);
  f("hehv.temp_attn_varentropy", p.hehv.temp_attn_varentropy);
  f("hehv.temp_min", p.hehv.temp_min);
  f("hehv.top_p_attn_entropy", p.hehv.top_p_attn_entropy);
  f("hehv.top_p_min", p.hehv.top_p_min);
  f("adaptive.temp_logit", p.adaptive.temp_logit);
  f("adaptive.temp_attn", p.adaptive.temp_attn);
  f("adaptive.temp_agreement", p.adaptive.temp_agreement);
  f("adaptive.top_p_attn_varentropy", p.adaptive.top_p_attn_varentropy);
  f("adaptive.top_p_min", p.adaptive.top_p_min);
  f("adaptive.top_p_max", p.adaptive.top_p_max);
  f("adaptive.top_k_interaction", p.adaptive.top_k_interaction);
  f("adaptive.top_k_agreement", p.adaptive.top_k_agreement);
  f("adaptive.top_k_min", p.adaptive.top_k_min);
  f("adaptive.top_k_max", p.adaptive.top_k_max);
  f("adaptive.min_p_logit", p.adaptive.min_p_logit);
  f("adaptive.min_p_min", p.adaptive.min_p_min);
  f("adaptive.min_p_max", p.adaptive.min_p_max);
  f("adaptive.n_candidates", p.adaptive.n_candidates);
}

template <class Json = nlohmann::json>
typename Json::json_pointer pointer(const std::string& dotted) {
  std::string s = "/" + dotted;
  for (char& c : s)
    if (c == '.') c = '/';
  return typename Json::json_pointer(s);
}

// Fields in declaration order, so that saved files read top to bottom.
nlohmann::ordered_json to_ordered_json(const Profile& p) {
  nlohmann::ordered_json j = {{"format", kFormat}, {"version", kVersion}};
  visit_fields(p, [&](const std::string& path, const auto& x) {
    using T = std::decay_t<decltype(x)>;
    if constexpr (std::is_same_v<T, PolicyVariant>) j[pointer<nlohmann::ordered_json>(path)] = policy_variant_name(x);
    else j[pointer<nlohmann::ordered_json>(path)] = x;
  });
  return j;
}

std::string type_name(const nlohmann::json& v) {
  if (v.is_number_integer()) return "an integer (" + v.dump() + ")";
  if (v.is_number()) return "a number (" + v.dump() + ")";
  if (v.is_string()) return "a string (" + v.dump() + ")";
  if (v.is_boolean()) return "a boolean (" + v.dump() + ")";
  if (v.is_null()) return "null";
  if (v.is_array()) return "an array";
  return "an object";
}

struct Reader {
  const nlohmann::json& root;
  std::vector<std::string>& errors;

  void wrong(const std::string& path, const char* expected, const nlohmann::json& v) {
    errors.push_back("field '" + path + "': expected " + expected + ", found " + type_name(v));
  }
  const nlohmann::json* find(const std::string& path) {
    const auto ptr = pointer(path);
    return root.contains(ptr) ? &root.at(ptr) : nullptr;
  }
  void operator()(const std::string& path, double& x) {
    if (const auto* v = find(path)) {
      if (v->is_number()) x = v->get<double>();
      else wrong(path, "a number", *v);
    }
  }
  void operator()(const std::string& path, int32_t& x) {
    if (const auto* v = find(path)) {
      if (v->is_number_integer() && v->get<int64_t>() >= INT32_MIN && v->get<int64_t>() <= INT32_MAX)
        x = static_cast<int32_t>(v->get<int64_t>());
      else wrong(path, "a 32-bit integer", *v);
    }
  }
  void operator()(const std::string& path, bool& x) {
    if (const auto* v = find(path)) {
      if (v->is_boolean()) x = v->get<bool>();
      else wrong(path, "a boolean", *v);
    }
  }
  void operator()(const std::string& path, std::string& x) {
    if (const auto* v = find(path)) {
      if (v->is_string()) x = v->get<std::string>();
      else wrong(path, "a string", *v);
    }
  }
  void operator()(const std::string& path, PolicyVariant& x) {
    if (const auto* v = find(path)) {
      if (v->is_string() && *v == "v1") x = PolicyVariant::V1;
      else if (v->is_string() && *v == "v2") x = PolicyVariant::V2;
      else wrong(path, "\"v1\" or \"v2\"", *v);
    }
  }
};

// Reports every key of `j` (an object at `prefix`) that is no field or section.
void find_unknown(const nlohmann::json& j, const std::string& prefix, const std::set<std::string>& leaves,
                  const std::set<std::string>& sections, std::vector<std::string>& errors) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string path = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (leaves.count(path)) continue;
    if (sections.count(path)) {
      if (it->is_object()) find_unknown(*it, path, leaves, sections, errors);
      else errors.push_back("field '" + path + "': expected an object, found " + type_name(*it));
      continue;
    }
    errors.push_back("unknown field '" + path + "'");
  }
}

void check(bool ok, const std::string& what, double found, std::vector<std::string>& errors) {
  if (!ok) {
    std::ostringstream s;
    s << what << ", found " << found;
    errors.push_back(s.str());
  }
}

}  // namespace

const char* policy_variant_name(PolicyVariant v) { return v == PolicyVariant::V2 ? "v2" : "v1"; }

void validate_profile(const Profile& p, const std::string& where) {
  std::vector<std::string> e;
  const auto& t = p.thresholds;
  check(t.entropy_low < t.entropy_high, "thresholds.entropy_low must be < thresholds.entropy_high (" +
        std::to_string(t.entropy_high) + ")", t.entropy_low, e);
  check(t.varentropy_low < t.varentropy_high, "thresholds.varentropy_low must be < thresholds.varentropy_high (" +
        std::to_string(t.varentropy_high) + ")", t.varentropy_low, e);
  check(t.entropy_low >= 0, "thresholds.entropy_low must be >= 0", t.entropy_low, e);
  check(t.varentropy_low >= 0, "thresholds.varentropy_low must be >= 0", t.varentropy_low, e);
  const auto& v = p.v2;
  check(v.attn_entropy_low < v.attn_entropy_high, "v2.attn_entropy_low must be < v2.attn_entropy_high", v.attn_entropy_low, e);
  check(v.attn_varentropy_low < v.attn_varentropy_high, "v2.attn_varentropy_low must be < v2.attn_varentropy_high", v.attn_varentropy_low, e);
  check(v.agreement_low < v.agreement_high, "v2.agreement_low must be < v2.agreement_high", v.agreement_low, e);
  check(v.interaction_low < v.interaction_high, "v2.interaction_low must be < v2.interaction_high", v.interaction_low, e);
  check(p.base.temperature >= 0, "base.temperature must be >= 0", p.base.temperature, e);
  check(p.base.top_p > 0 && p.base.top_p <= 1, "base.top_p must be in (0, 1]", p.base.top_p, e);
  check(p.base.top_k >= 0, "base.top_k must be >= 0", p.base.top_k, e);
  check(p.base.min_p >= 0 && p.base.min_p < 1, "base.min_p must be in [0, 1)", p.base.min_p, e);
  check(p.helv.thinking_budget >= 0, "helv.thinking_budget must be >= 0", p.helv.thinking_budget, e);
  check(p.lehv.top_k_min >= 1, "lehv.top_k_min must be >= 1", p.lehv.top_k_min, e);
  check(p.hehv.top_p_min > 0 && p.hehv.top_p_min <= 1, "hehv.top_p_min must be in (0, 1]", p.hehv.top_p_min, e);
  const auto& a = p.adaptive;
  check(a.top_p_min > 0 && a.top_p_min <= a.top_p_max && a.top_p_max <= 1,
        "adaptive.top_p_min must be in (0, adaptive.top_p_max] and top_p_max <= 1", a.top_p_min, e);
  check(a.top_k_min >= 1 && a.top_k_min <= a.top_k_max,
        "adaptive.top_k_min must be in [1, adaptive.top_k_max]", a.top_k_min, e);
  check(a.min_p_min >= 0 && a.min_p_min <= a.min_p_max && a.min_p_max < 1,
        "adaptive.min_p_min must be in [0, adaptive.min_p_max] and min_p_max < 1", a.min_p_min, e);
  check(a.n_candidates >= 1, "adaptive.n_candidates must be >= 1", a.n_candidates, e);
  check(p.n_alternatives >= 0 && p.n_alternatives <= kMaxAlternatives,
        "n_alternatives must be in [0, " + std::to_string(kMaxAlternatives) + "]", p.n_alternatives, e);
  check(p.attention_layer >= -1, "attention_layer must be >= -1 (-1 = last layer)", p.attention_layer, e);
  if (!e.empty()) {
    std::string msg = where + ": invalid profile:";
    for (const auto& s : e) msg += "\n  " + s;
    throw Error(msg);
  }
}

nlohmann::json profile_to_json(const Profile& p) { return nlohmann::json::parse(to_ordered_json(p).dump()); }

Profile profile_from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw Error(where + ": expected a JSON object, found " + type_name(j));
  std::vector<std::string> errors;
  std::set<std::string> leaves{"format", "version"}, sections;
  Profile probe;
  visit_fields(probe, [&](const std::string& path, auto&) {
    leaves.insert(path);
    for (size_t dot = path.find('.'); dot != std::string::npos; dot = path.find('.', dot + 1))
      sections.insert(path.substr(0, dot));
  });
  if (j.contains("format") && j["format"] != kFormat)
    errors.push_back(std::string("field 'format': expected \"") + kFormat + "\", found " + j["format"].dump());
  if (j.contains("version") && j["version"] != kVersion)
    errors.push_back("field 'version': expected " + std::to_string(kVersion) + ", found " + j["version"].dump());
  find_unknown(j, "", leaves, sections, errors);
  Profile p;
  Reader reader{j, errors};
  visit_fields(p, [&](const std::string& path, auto& x) {
    // A section given as a non-object is already reported by find_unknown.
    try {
      reader(path, x);
    } catch (const nlohmann::json::exception&) {
    }
  });
  if (!errors.empty()) {
    std::string msg = where + ": bad profile:";
    for (const auto& s : errors) msg += "\n  " + s;
    throw Error(msg);
  }
  validate_profile(p, where);
  return p;
}

Profile load_profile(const std::filesystem::path& path) {
  const std::string text = read_file(path, "profile");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(path.string() + ": not valid JSON: " + e.what());
  }
  return profile_from_json(j, path.string());
}

void save_profile(const Profile& p, const std::filesystem::path& path) {
  validate_profile(p, path.string());
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error("profile: cannot write " + path.string());
  out << to_ordered_json(p).dump(2) << "\n";
  if (!out) throw Error("profile: error while writing " + path.string());
}

std::vector<std::filesystem::path> profile_candidates(const std::filesystem::path& model_path) {
  std::vector<std::filesystem::path> out;
  std::filesystem::path beside = model_path;
  if (beside.extension() == ".gguf") beside.replace_extension();
  beside += ".profile.json";
  out.push_back(beside);
  try {
    out.push_back(cache_dir() / "profiles" / (model_path.filename().string() + ".profile.json"));
  } catch (const Error&) {
    // No cache folder can be placed: only the profile beside the model counts.
  }
  return out;
}

std::optional<std::filesystem::path> find_profile(const std::filesystem::path& model_path) {
  for (const auto& c : profile_candidates(model_path)) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(c, ec)) return c;
  }
  return std::nullopt;
}

}  // namespace entropix
