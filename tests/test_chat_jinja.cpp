// Unit tests of the chat-template interpreter, with expected strings derived by hand from
// jinja2's documented semantics (and Hugging Face's trim_blocks/lstrip_blocks settings).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "chat/chat_template.h"
#include "core/error.h"

namespace {

using entropix::ChatTemplate;
using ordered = nlohmann::ordered_json;

entropix::ChatMessage msg(std::string role, std::string content, nlohmann::json tool_calls = nullptr,
                          std::string name = "", std::string tool_call_id = "") {
  entropix::ChatMessage m;
  m.role = std::move(role);
  m.content = std::move(content);
  m.tool_calls = std::move(tool_calls);
  m.name = std::move(name);
  m.tool_call_id = std::move(tool_call_id);
  return m;
}

std::string R(const std::string& src, const ordered& ctx = ordered::object()) {
  return ChatTemplate(src).render(ctx);
}

// The message of the Error a template throws (at construction or rendering), or "" if none.
std::string error_of(const std::string& src, const ordered& ctx = ordered::object()) {
  try {
    ChatTemplate(src).render(ctx);
  } catch (const entropix::Error& e) {
    return e.what();
  }
  return "";
}

TEST(ChatJinja, TextAndExpressions) {
  EXPECT_EQ(R("Hello {{ name }}!", {{"name", "Ann"}}), "Hello Ann!");
  EXPECT_EQ(R("{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 2 ** 10 }} {{ 'ab' * 3 }} {{ 'a' ~ 1 ~ none }}"),
            "7 9 1024 ababab a1None");
  EXPECT_EQ(R("{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 4 / 2 }}"), "3 -4 2 3.5 2.0");
  EXPECT_EQ(R("{{ 1.0 }} {{ 1e20 }} {{ 0.0001 }} {{ 0.00001 }} {{ 1_000 }}"), "1.0 1e+20 0.0001 1e-05 1000");
  EXPECT_EQ(R("{{ true }} {{ none }} {{ [1, 'a', {'b': none, 'c': true}] }} {{ (1,) }}"),
            "True None [1, 'a', {'b': None, 'c': True}] (1,)");
  EXPECT_EQ(R("{{ \"it's\" }} {{ ['it\\'s', 'x\\ny'] }} {{ 'a' 'b' }}"), "it's [\"it's\", 'x\\ny'] ab");
  EXPECT_EQ(R("{{ none or 'x' }} {{ 0 and 1 }} {{ 'y' if 1 > 2 else 'n' }}[{{ 'z' if false }}]"), "x 0 n[]");
  EXPECT_EQ(R("{{ true == 1 }} {{ 1 == 1.0 }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'b' > 'a' }}"),
            "True True True False True");
  EXPECT_EQ(R("{{ 'ell' in 'hello' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'x' not in 'abc' }}"),
            "True True True True");
}

TEST(ChatJinja, WhitespaceControlAsTransformersSetsIt) {
  // trim_blocks drops the newline after a block tag; lstrip_blocks the indentation before it.
  EXPECT_EQ(R("  {% if true %}\n  x\n  {% endif %}\n  y {{ 1 }}  {% if true %}z{% endif %}\n"), "  x\n  y 1  z");
  EXPECT_EQ(R("a  {%- if true -%}  \n b \n  {%- endif -%}  c"), "abc");
  EXPECT_EQ(R("a {{- 'b' -}} \n c"), "abc");
  EXPECT_EQ(R("{# note #}\nx {#- strip -#}  y"), "xy");
  EXPECT_EQ(R("  {%+ if true %}x{% endif +%}\ny"), "  x\ny");
  // keep_trailing_newline=False drops exactly one final newline; \r\n becomes \n.
  EXPECT_EQ(R("a\n"), "a");
  EXPECT_EQ(R("a\n\n"), "a\n");
  EXPECT_EQ(R("a\r\nb"), "a\nb");
  EXPECT_EQ(R("{% raw %}{{ x }}{% endraw %}"), "{{ x }}");
}

TEST(ChatJinja, ForLoops) {
  EXPECT_EQ(R("{% for x in ['a', 'b', 'c'] %}{{ loop.index }}{{ x }}{% if not loop.last %},{% endif %}{% endfor %}"),
            "1a,2b,3c");
  EXPECT_EQ(R("{% for x in 'ab' %}{{ loop.index0 }}{{ loop.first }}{{ loop.length }}{{ loop.revindex }}|{% endfor %}"),
            "0True22|1False21|");
  EXPECT_EQ(R("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(R("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}"), "a=1;b=2;");
  EXPECT_EQ(R("{% for k, v in d|items %}{{ k }}{{ v }}{% endfor %}", {{"d", {{"z", 1}, {"a", 2}}}}), "z1a2");
  EXPECT_EQ(R("{% for i in range(10) if i is odd %}{{ i }}{% endfor %}"), "13579");
  EXPECT_EQ(R("{% for i in range(10) %}{% if i == 4 %}{% break %}{% endif %}{% if i == 1 %}{% continue %}{% endif %}"
              "{{ i }}{% endfor %}"),
            "023");
  EXPECT_EQ(R("{% for x in [1, 2, 3] %}{{ loop.cycle('a', 'b') }}{{ loop.previtem is defined }}{% endfor %}"),
            "aFalsebTrueaTrue");
  // Each iteration starts from the enclosing scope; sets inside do not leak out.
  EXPECT_EQ(R("{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = i + 10 %}{{ x }}{% endfor %}{{ x }}"), "1111121");
  // if opens no scope.
  EXPECT_EQ(R("{% if true %}{% set z = 3 %}{% endif %}{{ z }}"), "3");
}

TEST(ChatJinja, NamespaceAndSet) {
  EXPECT_EQ(R("{% set ns = namespace(n=0, s='') %}{% for i in range(5) %}{% set ns.n = ns.n + i %}"
              "{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.n }} {{ ns.s }}"),
            "10 01234");
  EXPECT_EQ(R("{% set a, b = [1, 2] %}{{ b }}{{ a }}"), "21");
  EXPECT_EQ(R("{% set block %}in {{ 'side' }}{% endset %}[{{ block }}]"), "[in side]");
  EXPECT_NE(error_of("{% set d = {'a': 1} %}{% set d.a = 2 %}").find("namespace"), std::string::npos);
}

TEST(ChatJinja, Filters) {
  EXPECT_EQ(R("[{{ '  x y \\n'|trim }}] {{ 'ab'|upper }} {{ 'AB'|lower }} {{ 'hello world'|capitalize }} "
              "{{ 'hello big-world'|title }}"),
            "[x y] AB ab Hello world Hello Big-World");
  EXPECT_EQ(R("{{ 'a-b-c'|replace('-', '+') }} {{ 'a-b-c'|replace('-', '', 1) }} {{ x|default('d') }} "
              "{{ none|default('d') }} {{ ''|default('d', true) }}"),
            "a+b+c ab-c d None d");
  EXPECT_EQ(R("{{ [1, 2, 3]|join(', ') }} {{ 'héllo'|length }} {{ [1, 2]|length }} {{ [3, 4]|first }} "
              "{{ [3, 4]|last }} {{ 'ab'|list }} {{ {'a': 1}|list }}"),
            "1, 2, 3 5 2 3 4 ['a', 'b'] ['a']");
  EXPECT_EQ(R("{{ 12|string ~ '!' }} {{ '42'|int + 1 }} {{ '3.9'|int }} {{ 'x'|int }} {{ '2.5'|float }} "
              "{{ [3, 1, 2]|sort }} {{ [1, 2, 1]|unique|list }} {{ [1, 2]|reverse|list }} {{ 'abc'|reverse }}"),
            "12! 43 3 0 2.5 [1, 2, 3] [1, 2] [2, 1] cba");
  const ordered msgs = ordered::parse(R"([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                                          {"role": "user", "content": "c"}])");
  EXPECT_EQ(R("{{ messages|selectattr('role', 'equalto', 'user')|map(attribute='content')|join }}"
              "{{ messages|rejectattr('role', 'eq', 'user')|map(attribute='content')|list }}"
              "{{ ['a', 'code', 'b']|reject('equalto', 'code')|join(',') }}{{ [0, 1, 2]|select|list }}",
              {{"messages", msgs}}),
            "ac['b']a,b[1, 2]");
  EXPECT_EQ(R("{{ {'b': 1, 'a': [1, 2.5, none, true, 'é<&>\"']}|tojson }}"),
            "{\"b\": 1, \"a\": [1, 2.5, null, true, \"é<&>\\\"\"]}");
  EXPECT_EQ(R("{{ {'b': {'c': []}, 'a': {}}|tojson(indent=2) }}"), "{\n  \"b\": {\n    \"c\": []\n  },\n  \"a\": {}\n}");
  EXPECT_EQ(R("{{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }} {{ 'x\\ty\\u0001'|tojson }}"),
            "{\"a\": 2, \"b\": 1} \"x\\ty\\u0001\"");
  EXPECT_EQ(R("{{ 'a\\nb'|indent(2) }}|{{ -3|abs }}|{{ [1, 2, 3]|sum }}|{{ [1, 3, 2]|max }}"), "a\n  b|3|6|3");
}

TEST(ChatJinja, Tests) {
  EXPECT_EQ(R("{{ x is defined }}{{ x is undefined }}{{ none is none }}{{ 'a' is string }}{{ {} is mapping }}"
              "{{ [] is iterable }}{{ 'a' is sequence }}{{ 1.5 is number }}{{ true is boolean }}{{ false is false }}"),
            "FalseTrueTrueTrueTrueTrueTrueTrueTrueTrue");
  EXPECT_EQ(R("{{ 1 is equalto 1 }}{{ 2 is in [1, 2] }}{{ 3 is not odd }}{{ 6 is divisibleby 3 }}{{ 1 is string }}"
              "{{ 'ab' is lower }}{{ none is not none }}"),
            "TrueTrueFalseTrueFalseTrueFalse");
}

TEST(ChatJinja, StringMethodsAndSlices) {
  EXPECT_EQ(R("{{ '<think>a</think>\\n\\nb'.split('</think>')[-1].lstrip('\\n') }} {{ 'a b  c'.split() }} "
              "{{ ' x '.strip() }}|{{ 'xxaxx'.rstrip('x') }} {{ 'abc'.startswith('ab') }} {{ 'abc'.endswith(('x', 'c')) }}"),
            "b ['a', 'b', 'c'] x|xxa True True");
  EXPECT_EQ(R("{{ 'abc'[::-1] }} {{ [1, 2, 3][1:] }} {{ [1, 2, 3][:-1] }} {{ [1, 2, 3, 4][::2] }} {{ 'héllo'[1] }} "
              "{{ 'héllo'[-2:] }} {{ [1, 2][5] is defined }}"),
            "cba [2, 3] [1, 2] [1, 3] é lo False");
  EXPECT_EQ(R("{{ 'a/think b'.replace('/think', '') }} {{ d.get('x', 'dflt') }} {{ d.get('k') }} {{ d['k'] }} "
              "{{ d.k }} {{ d|length }}",
              {{"d", {{"k", "v"}}}}),
            "a b dflt v v v 1");
}

TEST(ChatJinja, UndefinedBehavesLikeJinja2) {
  EXPECT_EQ(R("[{{ missing }}]{{ missing is defined }}{{ 'a' in missing }}{{ missing|length }}{{ missing == missing }}"
              "{% for x in missing %}x{% endfor %}{% if not missing %}falsy{% endif %}{{ missing ~ 'x' }}"),
            "[]FalseFalse0Truefalsyx");
  EXPECT_EQ(R("{{ d.nothing is defined }}[{{ d.nothing }}]", {{"d", ordered::object()}}), "False[]");
  // Using an undefined value, beyond printing and testing it, is an error with a position.
  const std::string attr = error_of("line one\n  {{ missing.attr }}");
  EXPECT_NE(attr.find("line 2"), std::string::npos) << attr;
  EXPECT_NE(attr.find("'missing' is undefined"), std::string::npos) << attr;
  EXPECT_NE(error_of("{{ d.y.z }}", {{"d", ordered::object()}}).find("no attribute 'y'"), std::string::npos);
  EXPECT_NE(error_of("{{ missing + 'x' }}"), "");
  EXPECT_NE(error_of("{{ missing() }}"), "");
}

TEST(ChatJinja, Macros) {
  EXPECT_EQ(R("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}"
              "{{ greet('Bob') }} {{ greet('Al', punct='?') }}"),
            "Hi Bob! Hi Al?");
  EXPECT_EQ(R("{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1)|int }}{% endif %}{% endmacro %}"
              "{{ fact(5) }}"),
            "120");
}

TEST(ChatJinja, GlobalsFromTransformers) {
  const std::string err = error_of("a\n\n  {{ raise_exception('Roles must alternate') }}");
  EXPECT_NE(err.find("line 3"), std::string::npos) << err;
  EXPECT_NE(err.find("Roles must alternate"), std::string::npos) << err;
  EXPECT_EQ(R("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %A %B') }}", {{"now", "2025-03-07"}}),
            "07 Mar 2025|2025-03-07 Friday March");
  EXPECT_EQ(R("{{ strftime_now is defined }}"), "True");
  EXPECT_NE(error_of("{{ strftime_now('%Y') }}", {{"now", "2025-02-30"}}), "");
}

TEST(ChatJinja, ApplyBuildsMessages) {
  const ChatTemplate t(
      "{{ bos_token }}{% for m in messages %}<{{ m.role }}{% if m.name is defined %}:{{ m.name }}{% endif %}>"
      "{{ m.content }}{% if m.tool_calls %}{{ m.tool_calls|tojson }}{% endif %}{% endfor %}"
      "{% if add_generation_prompt %}<assistant>{% endif %}{{ tools is none }}{{ eos_token }}");
  const auto call = msg("assistant", "", nlohmann::json::parse(R"([{"id": "x"}])"));
  EXPECT_EQ(t.apply({msg("user", "hi"), call, msg("tool", "42", nullptr, "calc", "x")}, true, "<s>", "</s>"),
            "<s><user>hi<assistant>[{\"id\": \"x\"}]<tool:calc>42<assistant>True</s>");
  EXPECT_EQ(t.apply({msg("user", "hi")}, false, "", ""), "<user>hiTrue");
}

TEST(ChatJinja, ErrorsNameTheLineAndColumn) {
  std::string e = error_of("line1\n{{ foo( }}");
  EXPECT_NE(e.find("line 2"), std::string::npos) << e;
  e = error_of("{% if x %}\nno end");
  EXPECT_NE(e.find("endif"), std::string::npos) << e;
  e = error_of("a\nb {{ 'x' | frobnicate }}");
  EXPECT_NE(e.find("line 2, column"), std::string::npos) << e;
  EXPECT_NE(e.find("frobnicate"), std::string::npos) << e;
  e = error_of("{{ x is frobnicated }}");
  EXPECT_NE(e.find("frobnicated"), std::string::npos) << e;
  EXPECT_NE(error_of("{{ 'unterminated }}"), "");
  EXPECT_NE(error_of("{# unterminated"), "");
  EXPECT_NE(error_of("{{ 1 + }}"), "");
  EXPECT_NE(error_of("{{ [1, 2) }}"), "");
  EXPECT_NE(error_of("{% endfor %}"), "");
  EXPECT_NE(error_of("{% break %}"), "");
  EXPECT_NE(error_of("{{ 1 / 0 }}"), "");
  EXPECT_NE(error_of("{{ 'a' < 1 }}"), "");
  EXPECT_NE(error_of("{{ 9223372036854775807 + 1 }}"), "");
  EXPECT_NE(error_of("{{ x }}", {{"x", "\xff\xfe"}}), "");
  EXPECT_NE(error_of("\xc3("), "");
}

TEST(ChatJinja, UnsupportedConstructsFailCleanly) {
  for (const char* src : {"{% include 'other.jinja' %}", "{% extends 'base' %}", "{% import 'm' as m %}",
                          "{% for x in y recursive %}{% endfor %}", "{% call foo() %}{% endcall %}",
                          "{{ f(*args) }}", "{% frobnicate %}", "{{ '%s' % 1 }}", "{{ 'a'.format() }}"}) {
    const std::string e = error_of(src);
    EXPECT_NE(e, "") << src;
    EXPECT_NE(e.find("line 1"), std::string::npos) << src << ": " << e;
  }
}

TEST(ChatJinja, HostileInputIsBounded) {
  // Infinite macro recursion stops at the depth limit.
  const std::string rec = error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  EXPECT_NE(rec.find("recursion"), std::string::npos) << rec;
  // Deeply nested expressions and blocks stop at the parser's depth limit.
  // (Built with +=: GCC 12 warns falsely of array bounds on "text" + std::string(...).)
  const auto expression = [](const std::string& inner) {
    std::string s = "{{ ";
    s += inner;
    s += " }}";
    return s;
  };
  EXPECT_NE(error_of(expression(std::string(100000, '(') + "1" + std::string(100000, ')'))), "");
  EXPECT_NE(error_of(expression(std::string(100000, '[') + std::string(100000, ']'))), "");
  EXPECT_NE(error_of(expression(std::string(50000, '-') + "1")), "");
  std::string nots;
  for (int i = 0; i < 50000; ++i) nots += "not ";
  EXPECT_NE(error_of(expression(nots + "x")), "");
  std::string ifs;
  for (int i = 0; i < 5000; ++i) ifs += "{% if true %}";
  EXPECT_NE(error_of(ifs), "");
  // Deeply nested input data.
  std::string deep_text = "{\"messages\": ";
  deep_text += std::string(100000, '[') + std::string(100000, ']') + "}";
  const ordered deep = ordered::parse(deep_text);
  EXPECT_NE(error_of("{{ messages }}", deep), "");
  // Values nested deeper and deeper by the template itself.
  EXPECT_NE(error_of("{% set ns = namespace(x=[]) %}{% for i in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}"), "");
  // Huge strings.
  EXPECT_NE(error_of("{{ 'x' * 1000000000 }}"), "");
  EXPECT_NE(error_of("{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}"
                     "{% endfor %}"),
            "");
}

}  // namespace
