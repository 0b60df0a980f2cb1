// The syntax tree of a parsed chat template: expressions and statements, each with the
// position in the template it came from.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja_lexer.h"
#include "chat/jinja_value.h"

namespace entropix::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;
using KeywordArgs = std::vector<std::pair<std::string, ExprPtr>>;

struct Expr {
  enum class Kind {
    Literal,  // literal
    Name,     // name
    List,     // children: items
    Tuple,    // children: items
    Dict,     // children: key0, value0, key1, value1, ...
    GetAttr,  // children[0].name
    GetItem,  // children[0][children[1]]
    Slice,    // children[0][children[1]:children[2]:children[3]], absent parts null
    Call,     // children[0](children[1..], kwargs)
    Filter,   // children[0] | name(children[1..], kwargs); children[0] null in a filter block
    Test,     // children[0] is [not] name(children[1..], kwargs)
    Unary,    // name in {"-", "+", "not"}, children[0]
    Binary,   // name in {"+", "-", "*", "/", "//", "%", "**", "~", "and", "or"}
    Compare,  // children[0] ops[0] children[1] ops[1] children[2] ...; ops also "in", "not in"
    Cond,     // children[0] if children[1] else children[2] (else may be null)
  };
  Kind kind;
  SourcePos pos;
  Value literal;
  std::string name;
  std::vector<ExprPtr> children;
  KeywordArgs kwargs;
  std::vector<std::string> ops;
  bool negated = false;  // Test: "is not"
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

struct Node {
  enum class Kind {
    Text,         // text
    Output,       // {{ expr }}
    If,           // branches (condition, body) ..., else_body
    For,          // for targets in expr [if condition]: body, else_body
    Set,          // set targets = expr, or set targets[0].attr = expr (attr non-empty)
    SetBlock,     // set targets[0] %} body {% endset
    Macro,        // macro name(params) body
    Break,
    Continue,
    FilterBlock,  // filter expr (a Filter chain whose innermost operand is null) body
    With,         // with params (name = value ...) body
  };
  Kind kind;
  SourcePos pos;
  std::string text;
  ExprPtr expr;
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body;
  Body else_body;
  std::vector<std::string> targets;
  std::string attr;
  ExprPtr condition;
  std::string name;
  std::vector<std::pair<std::string, ExprPtr>> params;  // Macro: defaults may be null
};

}  // namespace entropix::jinja
