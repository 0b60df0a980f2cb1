#include "chat/jinja_parser.h"

#include <algorithm>

#include "core/error.h"

namespace entropix::jinja {

namespace {

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : toks_(std::move(tokens)) {}

  Body parse() {
    std::string end;
    Body body = parse_body({}, end);
    return body;
  }

 private:
  std::vector<Token> toks_;
  size_t i_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;

  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser) : p(parser) {
      if (++p.depth_ > Limits::kMaxParseDepth)
        p.fail("expected expressions and blocks nested at most " +
               std::to_string(Limits::kMaxParseDepth) + " deep, found deeper nesting");
    }
    ~DepthGuard() { --p.depth_; }
  };

  // Each link of a chain (a + b + c, a.b[0](), a|f|g) wraps what came before in one more
  // node, so the tree grows as deep as the chain is long, and checking, evaluating and
  // freeing it recurse that deep: each link counts as one level of nesting.
  struct ChainDepth {
    Parser& p;
    int links = 0;
    explicit ChainDepth(Parser& parser) : p(parser) {}
    void link() {
      ++links;
      if (++p.depth_ > Limits::kMaxParseDepth)
        p.fail("expected expressions and blocks nested at most " + std::to_string(Limits::kMaxParseDepth) +
               " deep, found a longer chain of operators, attributes or filters");
    }
    ~ChainDepth() { p.depth_ -= links; }
    ChainDepth(const ChainDepth&) = delete;
    ChainDepth& operator=(const ChainDepth&) = delete;
  };

  const Token& cur() const { return toks_[i_]; }
  const Token& peek(size_t k = 1) const { return toks_[std::min(i_ + k, toks_.size() - 1)]; }
  void advance() {
    if (i_ + 1 < toks_.size()) ++i_;
  }
  bool is_op(const char* op) const { return cur().type == TokenType::Operator && cur().text == op; }
  bool is_name(const char* n) const { return cur().type == TokenType::Name && cur().text == n; }

  static std::string describe_token(const Token& t) {
    switch (t.type) {
      case TokenType::Data: return "template text";
      case TokenType::VarBegin: return "'{{'";
      case TokenType::VarEnd: return "'}}'";
      case TokenType::BlockBegin: return "'{%'";
      case TokenType::BlockEnd: return "'%}'";
      case TokenType::String: return "a string";
      case TokenType::End: return "the end of the template";
      default: return "'" + t.text + "'";
    }
  }

  [[noreturn]] void fail(const std::string& what) const { fail_at(what, cur()); }
  [[noreturn]] static void fail_at(const std::string& what, const Token& at) {
    throw Error("chat template " + describe(at.pos) + ": " + what);
  }
  [[noreturn]] void fail_expected(const std::string& expected) const {
    fail("expected " + expected + ", found " + describe_token(cur()));
  }

  void expect_op(const char* op) {
    if (!is_op(op)) fail_expected(std::string("'") + op + "'");
    advance();
  }
  std::string expect_name() {
    if (cur().type != TokenType::Name) fail_expected("a name");
    std::string n = cur().text;
    advance();
    return n;
  }
  void expect_block_end() {
    if (cur().type != TokenType::BlockEnd) fail_expected("'%}'");
    advance();
  }

  static ExprPtr make(Expr::Kind kind, const SourcePos& pos) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->pos = pos;
    return e;
  }
  static NodePtr make_node(Node::Kind kind, const SourcePos& pos) {
    auto n = std::make_unique<Node>();
    n->kind = kind;
    n->pos = pos;
    return n;
  }

  // ---- statements ------------------------------------------------------------------------

  // Parses until a block tag whose name is in `ends` (consumed: the name only) or the end.
  Body parse_body(const std::vector<std::string>& ends, std::string& found_end) {
    Body body;
    const Token& opening = cur();
    while (true) {
      const Token& t = cur();
      switch (t.type) {
        case TokenType::Data: {
          auto n = make_node(Node::Kind::Text, t.pos);
          n->text = t.text;
          body.push_back(std::move(n));
          advance();
          break;
        }
        case TokenType::VarBegin: {
          advance();
          auto n = make_node(Node::Kind::Output, t.pos);
          n->expr = parse_tuple(false, true, {});
          if (cur().type != TokenType::VarEnd) fail_expected("'}}'");
          advance();
          body.push_back(std::move(n));
          break;
        }
        case TokenType::BlockBegin: {
          advance();
          if (cur().type == TokenType::Name &&
              std::find(ends.begin(), ends.end(), cur().text) != ends.end()) {
            found_end = cur().text;
            advance();
            return body;
          }
          body.push_back(parse_statement(t));
          break;
        }
        case TokenType::End:
          if (!ends.empty()) {
            std::string want;
            for (const auto& e : ends) want += (want.empty() ? "" : " or ") + ("{% " + e + " %}");
            fail_at("expected " + want + " to close the block opened at " + describe(opening.pos) +
                        ", found the end of the template", t);
          }
          return body;
        default:
          fail_at("unexpected " + describe_token(t), t);
      }
    }
  }

  NodePtr parse_statement(const Token& begin) {
    DepthGuard guard(*this);
    if (cur().type != TokenType::Name) fail_expected("a tag name");
    const std::string tag = cur().text;
    const SourcePos pos = begin.pos;
    advance();
    if (tag == "if") return parse_if(pos);
    if (tag == "for") return parse_for(pos);
    if (tag == "set") return parse_set(pos);
    if (tag == "macro") return parse_macro(pos);
    if (tag == "filter") return parse_filter_block(pos);
    if (tag == "with") return parse_with(pos, "endwith");
    if (tag == "generation") return parse_with(pos, "endgeneration");
    if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) fail_at("expected '" + tag + "' inside a for loop, found it outside any loop", begin);
      expect_block_end();
      return make_node(tag == "break" ? Node::Kind::Break : Node::Kind::Continue, pos);
    }
    static const char* const kKnownUnsupported[] = {"include", "extends", "import", "from", "block",
                                                    "call", "do", "autoescape", "trans"};
    for (const char* k : kKnownUnsupported)
      if (tag == k) fail_at("the '" + tag + "' tag is not supported in chat templates", begin);
    fail_at("expected a tag (if, for, set, macro, filter, with, break, continue), found unknown tag '" +
                tag + "'", begin);
  }

  NodePtr parse_if(const SourcePos& pos) {
    auto n = make_node(Node::Kind::If, pos);
    ExprPtr cond = parse_tuple(false, false, {});
    while (true) {
      expect_block_end();
      std::string end;
      Body body = parse_body({"elif", "else", "endif"}, end);
      n->branches.emplace_back(std::move(cond), std::move(body));
      if (end == "elif") {
        cond = parse_tuple(false, false, {});
        continue;
      }
      if (end == "else") {
        expect_block_end();
        n->else_body = parse_body({"endif"}, end);
      }
      expect_block_end();
      return n;
    }
  }

  std::vector<std::string> parse_targets(const char* stop_name) {
    std::vector<std::string> names;
    const bool paren = is_op("(");
    if (paren) advance();
    while (true) {
      names.push_back(expect_name());
      if (!is_op(",")) break;
      advance();
      if ((stop_name && is_name(stop_name)) || (paren && is_op(")")) || is_op("=")) break;
    }
    if (paren) expect_op(")");
    return names;
  }

  NodePtr parse_for(const SourcePos& pos) {
    auto n = make_node(Node::Kind::For, pos);
    n->targets = parse_targets("in");
    if (!is_name("in")) fail_expected("'in'");
    advance();
    n->expr = parse_tuple(false, false, {"recursive", "if"});
    if (is_name("if")) {
      advance();
      n->condition = parse_expression(true);
    }
    if (is_name("recursive")) fail("recursive for loops are not supported in chat templates");
    expect_block_end();
    ++loop_depth_;
    std::string end;
    n->body = parse_body({"endfor", "else"}, end);
    --loop_depth_;
    if (end == "else") {
      expect_block_end();
      n->else_body = parse_body({"endfor"}, end);
    }
    expect_block_end();
    return n;
  }

  NodePtr parse_set(const SourcePos& pos) {
    if (cur().type == TokenType::Name && peek().type == TokenType::Operator && peek().text == "." &&
        peek(2).type == TokenType::Name) {
      auto n = make_node(Node::Kind::Set, pos);
      n->targets.push_back(cur().text);
      advance();
      advance();
      n->attr = cur().text;
      advance();
      expect_op("=");
      n->expr = parse_tuple(false, true, {});
      expect_block_end();
      return n;
    }
    std::vector<std::string> targets = parse_targets(nullptr);
    if (is_op("=")) {
      advance();
      auto n = make_node(Node::Kind::Set, pos);
      n->targets = std::move(targets);
      n->expr = parse_tuple(false, true, {});
      expect_block_end();
      return n;
    }
    if (targets.size() != 1) fail_expected("'='");
    if (is_op("|")) fail("filters on a block set are not supported in chat templates");
    expect_block_end();
    auto n = make_node(Node::Kind::SetBlock, pos);
    n->targets = std::move(targets);
    std::string end;
    const int saved = loop_depth_;
    n->body = parse_body({"endset"}, end);
    loop_depth_ = saved;
    expect_block_end();
    return n;
  }

  NodePtr parse_macro(const SourcePos& pos) {
    auto n = make_node(Node::Kind::Macro, pos);
    n->name = expect_name();
    expect_op("(");
    while (!is_op(")")) {
      if (!n->params.empty()) expect_op(",");
      if (is_op(")")) break;
      std::string pname = expect_name();
      ExprPtr dflt;
      if (is_op("=")) {
        advance();
        dflt = parse_expression(true);
      }
      n->params.emplace_back(std::move(pname), std::move(dflt));
    }
    advance();
    expect_block_end();
    const int saved = loop_depth_;
    loop_depth_ = 0;
    std::string end;
    n->body = parse_body({"endmacro"}, end);
    loop_depth_ = saved;
    if (cur().type == TokenType::Name) advance();  // {% endmacro name %}
    expect_block_end();
    return n;
  }

  NodePtr parse_filter_block(const SourcePos& pos) {
    auto n = make_node(Node::Kind::FilterBlock, pos);
    ExprPtr chain;
    ChainDepth chain_depth(*this);
    do {
      if (chain) {
        advance();
        chain_depth.link();
      }
      chain = parse_filter(std::move(chain));
    } while (is_op("|"));
    n->expr = std::move(chain);
    expect_block_end();
    std::string end;
    n->body = parse_body({"endfilter"}, end);
    expect_block_end();
    return n;
  }

  NodePtr parse_with(const SourcePos& pos, const char* end_tag) {
    auto n = make_node(Node::Kind::With, pos);
    while (cur().type != TokenType::BlockEnd) {
      if (!n->params.empty()) expect_op(",");
      std::string pname = expect_name();
      expect_op("=");
      n->params.emplace_back(std::move(pname), parse_expression(true));
    }
    expect_block_end();
    std::string end;
    n->body = parse_body({end_tag}, end);
    expect_block_end();
    return n;
  }

  // ---- expressions -----------------------------------------------------------------------

  bool is_tuple_end(const std::vector<std::string>& extra_end) const {
    const Token& t = cur();
    if (t.type == TokenType::VarEnd || t.type == TokenType::BlockEnd || t.type == TokenType::End) return true;
    if (t.type == TokenType::Operator && t.text == ")") return true;
    return t.type == TokenType::Name &&
           std::find(extra_end.begin(), extra_end.end(), t.text) != extra_end.end();
  }

  ExprPtr parse_tuple(bool explicit_parens, bool with_condexpr, const std::vector<std::string>& extra_end) {
    const SourcePos pos = cur().pos;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) expect_op(",");
      if (is_tuple_end(extra_end)) break;
      items.push_back(parse_expression(with_condexpr));
      if (is_op(",")) {
        is_tuple = true;
      } else {
        break;
      }
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parens) fail_expected("an expression");
    }
    auto e = make(Expr::Kind::Tuple, pos);
    e->children = std::move(items);
    return e;
  }

  ExprPtr parse_expression(bool with_condexpr) {
    DepthGuard guard(*this);
    if (!with_condexpr) return parse_or();
    ExprPtr expr = parse_or();
    ChainDepth chain(*this);
    while (is_name("if")) {
      const SourcePos pos = cur().pos;
      chain.link();
      advance();
      auto c = make(Expr::Kind::Cond, pos);
      ExprPtr test = parse_or();
      ExprPtr other;
      if (is_name("else")) {
        advance();
        other = parse_expression(true);
      }
      c->children.push_back(std::move(expr));
      c->children.push_back(std::move(test));
      c->children.push_back(std::move(other));
      expr = std::move(c);
    }
    return expr;
  }

  ExprPtr binary(const std::string& op, ExprPtr l, ExprPtr r, const SourcePos& pos) {
    auto e = make(Expr::Kind::Binary, pos);
    e->name = op;
    e->children.push_back(std::move(l));
    e->children.push_back(std::move(r));
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    ChainDepth chain(*this);
    while (is_name("or")) {
      chain.link();
      const SourcePos pos = cur().pos;
      advance();
      left = binary("or", std::move(left), parse_and(), pos);
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    ChainDepth chain(*this);
    while (is_name("and")) {
      chain.link();
      const SourcePos pos = cur().pos;
      advance();
      left = binary("and", std::move(left), parse_not(), pos);
    }
    return left;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      DepthGuard guard(*this);
      auto e = make(Expr::Kind::Unary, cur().pos);
      advance();
      e->name = "not";
      e->children.push_back(parse_not());
      return e;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const SourcePos pos = cur().pos;
    ExprPtr first = parse_math1();
    std::vector<std::string> ops;
    std::vector<ExprPtr> operands;
    while (true) {
      const Token& t = cur();
      if (t.type == TokenType::Operator &&
          (t.text == "==" || t.text == "!=" || t.text == "<" || t.text == ">" || t.text == "<=" || t.text == ">=")) {
        ops.push_back(t.text);
        advance();
      } else if (is_name("in")) {
        ops.push_back("in");
        advance();
      } else if (is_name("not") && peek().type == TokenType::Name && peek().text == "in") {
        ops.push_back("not in");
        advance();
        advance();
      } else {
        break;
      }
      operands.push_back(parse_math1());
    }
    if (ops.empty()) return first;
    auto e = make(Expr::Kind::Compare, pos);
    e->children.push_back(std::move(first));
    for (auto& o : operands) e->children.push_back(std::move(o));
    e->ops = std::move(ops);
    return e;
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    ChainDepth chain(*this);
    while (is_op("+") || is_op("-")) {
      chain.link();
      const std::string op = cur().text;
      const SourcePos pos = cur().pos;
      advance();
      left = binary(op, std::move(left), parse_concat(), pos);
    }
    return left;
  }

  ExprPtr parse_concat() {
    ExprPtr left = parse_math2();
    ChainDepth chain(*this);
    while (is_op("~")) {
      chain.link();
      const SourcePos pos = cur().pos;
      advance();
      left = binary("~", std::move(left), parse_math2(), pos);
    }
    return left;
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    ChainDepth chain(*this);
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      chain.link();
      const std::string op = cur().text;
      const SourcePos pos = cur().pos;
      advance();
      left = binary(op, std::move(left), parse_pow(), pos);
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary(true);
    ChainDepth chain(*this);
    while (is_op("**")) {
      chain.link();
      const SourcePos pos = cur().pos;
      advance();
      left = binary("**", std::move(left), parse_unary(true), pos);
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    ExprPtr node;
    if (is_op("-") || is_op("+")) {
      node = make(Expr::Kind::Unary, cur().pos);
      node->name = cur().text;
      advance();
      node->children.push_back(parse_unary(false));
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary() {
    const Token& t = cur();
    ExprPtr e;
    switch (t.type) {
      case TokenType::Name: {
        e = make(Expr::Kind::Literal, t.pos);
        if (t.text == "true" || t.text == "True") {
          e->literal = Value(true);
        } else if (t.text == "false" || t.text == "False") {
          e->literal = Value(false);
        } else if (t.text == "none" || t.text == "None") {
          e->literal = Value::none();
        } else {
          e->kind = Expr::Kind::Name;
          e->name = t.text;
        }
        advance();
        return e;
      }
      case TokenType::String: {
        e = make(Expr::Kind::Literal, t.pos);
        std::string s;
        while (cur().type == TokenType::String) {
          s += cur().text;
          advance();
        }
        e->literal = Value(std::move(s));
        return e;
      }
      case TokenType::Integer:
      case TokenType::Float:
        e = make(Expr::Kind::Literal, t.pos);
        e->literal = t.type == TokenType::Integer ? Value(t.int_value) : Value(t.float_value);
        advance();
        return e;
      case TokenType::Operator:
        if (t.text == "(") {
          advance();
          e = parse_tuple(true, true, {});
          expect_op(")");
          return e;
        }
        if (t.text == "[") {
          e = make(Expr::Kind::List, t.pos);
          advance();
          while (!is_op("]")) {
            if (!e->children.empty()) expect_op(",");
            if (is_op("]")) break;
            e->children.push_back(parse_expression(true));
          }
          advance();
          return e;
        }
        if (t.text == "{") {
          e = make(Expr::Kind::Dict, t.pos);
          advance();
          while (!is_op("}")) {
            if (!e->children.empty()) expect_op(",");
            if (is_op("}")) break;
            e->children.push_back(parse_expression(true));
            expect_op(":");
            e->children.push_back(parse_expression(true));
          }
          advance();
          return e;
        }
        break;
      default:
        break;
    }
    fail_expected("an expression");
  }

  ExprPtr parse_postfix(ExprPtr node) {
    ChainDepth chain(*this);
    while (true) {
      if (is_op(".") || is_op("[") || is_op("(")) chain.link();
      if (is_op(".")) {
        const SourcePos pos = cur().pos;
        advance();
        if (cur().type == TokenType::Name) {
          auto e = make(Expr::Kind::GetAttr, pos);
          e->name = cur().text;
          advance();
          e->children.push_back(std::move(node));
          node = std::move(e);
        } else if (cur().type == TokenType::Integer) {
          auto e = make(Expr::Kind::GetItem, pos);
          auto idx = make(Expr::Kind::Literal, cur().pos);
          idx->literal = Value(cur().int_value);
          advance();
          e->children.push_back(std::move(node));
          e->children.push_back(std::move(idx));
          node = std::move(e);
        } else {
          fail_expected("a name or number after '.'");
        }
      } else if (is_op("[")) {
        node = parse_subscript(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr node) {
    const SourcePos pos = cur().pos;
    advance();  // [
    std::vector<ExprPtr> args;
    bool slice = false;
    ExprPtr parts[3];
    while (!is_op("]")) {
      if (!args.empty() || slice) expect_op(",");
      ExprPtr start;
      if (!is_op(":")) start = parse_expression(true);
      if (!is_op(":")) {
        args.push_back(std::move(start));
        continue;
      }
      if (!args.empty()) fail("slices together with other subscripts are not supported in chat templates");
      slice = true;
      advance();
      parts[0] = std::move(start);
      if (!is_op("]") && !is_op(",") && !is_op(":")) parts[1] = parse_expression(true);
      if (is_op(":")) {
        advance();
        if (!is_op("]") && !is_op(",")) parts[2] = parse_expression(true);
      }
      if (!is_op("]")) fail_expected("']' after the slice");
    }
    advance();  // ]
    if (slice) {
      auto e = make(Expr::Kind::Slice, pos);
      e->children.push_back(std::move(node));
      for (auto& p : parts) e->children.push_back(std::move(p));
      return e;
    }
    if (args.empty()) fail_at("expected a subscript expression, found '[]'", toks_[i_ - 1]);
    auto e = make(Expr::Kind::GetItem, pos);
    e->children.push_back(std::move(node));
    if (args.size() == 1) {
      e->children.push_back(std::move(args[0]));
    } else {
      auto t = make(Expr::Kind::Tuple, pos);
      t->children = std::move(args);
      e->children.push_back(std::move(t));
    }
    return e;
  }

  // Parses "(args)" into e->children (after any already there) and e->kwargs.
  void parse_call_args(Expr& e) {
    expect_op("(");
    bool first = true;
    while (!is_op(")")) {
      if (!first) expect_op(",");
      first = false;
      if (is_op(")")) break;
      if (is_op("*") || is_op("**")) fail("*args and **kwargs in calls are not supported in chat templates");
      if (cur().type == TokenType::Name && peek().type == TokenType::Operator && peek().text == "=") {
        std::string key = cur().text;
        advance();
        advance();
        e.kwargs.emplace_back(std::move(key), parse_expression(true));
      } else {
        if (!e.kwargs.empty()) fail("expected a keyword argument after keyword arguments, found a positional one");
        e.children.push_back(parse_expression(true));
      }
    }
    advance();
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto e = make(Expr::Kind::Call, cur().pos);
    e->children.push_back(std::move(callee));
    parse_call_args(*e);
    return e;
  }

  // "name[.name...][(args)]" applied to operand (null in a filter block).
  ExprPtr parse_filter(ExprPtr operand) {
    auto e = make(Expr::Kind::Filter, cur().pos);
    e->name = expect_name();
    while (is_op(".")) {
      advance();
      e->name += '.';
      e->name += expect_name();
    }
    e->children.push_back(std::move(operand));
    if (is_op("(")) parse_call_args(*e);
    return e;
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    ChainDepth chain(*this);
    while (true) {
      if (is_op("|") || is_name("is") || is_op("(")) chain.link();
      if (is_op("|")) {
        advance();
        node = parse_filter(std::move(node));
      } else if (is_name("is")) {
        node = parse_test(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_test(ExprPtr node) {
    auto e = make(Expr::Kind::Test, cur().pos);
    advance();  // is
    if (is_name("not")) {
      e->negated = true;
      advance();
    }
    e->name = expect_name();
    while (is_op(".")) {
      advance();
      e->name += '.';
      e->name += expect_name();
    }
    e->children.push_back(std::move(node));
    const Token& t = cur();
    const bool arg_start =
        t.type == TokenType::Name || t.type == TokenType::String || t.type == TokenType::Integer ||
        t.type == TokenType::Float ||
        (t.type == TokenType::Operator && (t.text == "[" || t.text == "{"));
    if (is_op("(")) {
      parse_call_args(*e);
    } else if (arg_start && !is_name("else") && !is_name("or") && !is_name("and")) {
      if (is_name("is")) fail("tests cannot be chained with 'is'");
      e->children.push_back(parse_postfix(parse_primary()));
    }
    return e;
  }
};

}  // namespace

Body parse_template(std::string_view source) { return Parser(tokenize(source)).parse(); }

}  // namespace entropix::jinja
