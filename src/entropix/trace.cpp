#include "entropix/trace.h"

#include "core/error.h"
#include "core/json_text.h"

namespace entropix {

nlohmann::json trace_record(const SampleOutcome& o, std::string_view piece, int64_t index) {
  nlohmann::json alts = nlohmann::json::array();
  for (const Alternative& a : o.alternatives_span()) alts.push_back({{"id", a.id}, {"prob", a.prob}});
  const TokenMetrics& m = o.metrics;
  nlohmann::json metrics = {{"entropy", m.entropy},     {"varentropy", m.varentropy}, {"top1", m.top1},
                            {"top1_prob", m.top1_prob}, {"top2", m.top2},             {"top2_prob", m.top2_prob}};
  metrics["attention"] = m.has_attention ? nlohmann::json{{"entropy", m.attn_entropy},
                                                          {"varentropy", m.attn_varentropy},
                                                          {"agreement", m.agreement},
                                                          {"interaction", m.interaction}}
                                         : nlohmann::json(nullptr);
  nlohmann::json r = {
      {"index", index},
      {"id", o.insert_thinking ? nlohmann::json(nullptr) : nlohmann::json(o.token)},
      {"piece", std::string(piece)},
      {"logprob", o.logprob},
      {"alternatives", std::move(alts)},
      {"rest_mass", o.rest_mass},
      {"metrics", std::move(metrics)},
      {"state", state_name(o.state)},
      {"action", action_name(o.action)},
      {"params",
       {{"temperature", o.params.temperature}, {"top_k", o.params.top_k}, {"top_p", o.params.top_p},
        {"min_p", o.params.min_p}}},
      {"n_candidates", o.n_candidates},
      {"branch", o.branch},
  };
  if (o.insert_thinking) r["thinking_text"] = std::string(o.thinking_text);
  return r;
}

std::string trace_line(const nlohmann::json& record) {
  return json_text(record);
}

TokenMetrics metrics_from_trace(const nlohmann::json& r) {
  auto need = [](const nlohmann::json& obj, const char* key, const char* where) -> const nlohmann::json& {
    if (!obj.is_object() || !obj.contains(key) || !obj.at(key).is_number())
      throw Error(std::string("trace record: expected a number at ") + where + "." + key);
    return obj.at(key);
  };
  if (!r.is_object() || !r.contains("metrics") || !r.at("metrics").is_object())
    throw Error("trace record: expected an object field 'metrics'");
  const nlohmann::json& mj = r.at("metrics");
  TokenMetrics m;
  m.entropy = need(mj, "entropy", "metrics").get<double>();
  m.varentropy = need(mj, "varentropy", "metrics").get<double>();
  m.top1 = need(mj, "top1", "metrics").get<int32_t>();
  m.top2 = need(mj, "top2", "metrics").get<int32_t>();
  m.top1_prob = need(mj, "top1_prob", "metrics").get<double>();
  m.top2_prob = need(mj, "top2_prob", "metrics").get<double>();
  if (mj.contains("attention") && !mj.at("attention").is_null()) {
    const nlohmann::json& a = mj.at("attention");
    m.has_attention = true;
    m.attn_entropy = need(a, "entropy", "metrics.attention").get<double>();
    m.attn_varentropy = need(a, "varentropy", "metrics.attention").get<double>();
    m.agreement = need(a, "agreement", "metrics.attention").get<double>();
    m.interaction = need(a, "interaction", "metrics.attention").get<double>();
  }
  return m;
}

State state_from_trace(const nlohmann::json& record, const Profile& profile) {
  return classify(metrics_from_trace(record), profile);
}

}  // namespace entropix
