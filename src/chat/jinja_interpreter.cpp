#include "chat/jinja_interpreter.h"

#include <unordered_map>

#include "chat/jinja_builtins.h"
#include "core/error.h"

namespace entropix::jinja {

namespace {

// An Error that already names its template position; others get the position of the
// innermost expression or statement they pass through.
struct PositionedError : Error {
  using Error::Error;
};

[[noreturn]] void fail_at(const SourcePos& pos, const std::string& what) {
  throw PositionedError("chat template " + describe(pos) + ": " + what);
}

struct Scope {
  std::unordered_map<std::string, Value> vars;
  const Scope* parent = nullptr;

  const Value* find(const std::string& name) const {
    for (const Scope* s = this; s; s = s->parent) {
      auto it = s->vars.find(name);
      if (it != s->vars.end()) return &it->second;
    }
    return nullptr;
  }
};

enum class Flow { Normal, Break, Continue };

class Interpreter {
 public:
  explicit Interpreter(const std::optional<std::tm>& now) {
    Dict g = make_globals(now);
    for (auto& [k, v] : g.items) globals_.vars.emplace(k, v);
    root_.parent = &globals_;
  }

  std::string run(const Body& body, const Value& context) {
    if (!context.is_dict()) throw Error("chat template context: expected a JSON object, found '" + context.type_name() + "'");
    for (const auto& [k, v] : context.as_dict().items) root_.vars[k] = v;
    std::string out;
    exec_body(body, root_, out);
    return out;
  }

 private:
  Scope globals_;
  Scope root_;
  uint64_t steps_ = 0;
  int call_depth_ = 0;
  int depth_ = 0;  // statements and expressions being evaluated, one inside the other

  void step(const SourcePos& pos) {
    if (++steps_ > Limits::kMaxSteps)
      fail_at(pos, "expected at most " + std::to_string(Limits::kMaxSteps) +
                       " loop iterations and calls, found more (runaway template)");
    try {
      RenderBudget::active()->check_clock();
    } catch (const Error& e) {
      fail_at(pos, e.what());
    }
  }

  // The parser bounds how deep one expression or block nests; macro calls stack them, and
  // this bounds the whole so that the render stays within the thread's stack.
  struct DepthGuard {
    Interpreter& in;
    DepthGuard(Interpreter& interpreter, const SourcePos& pos) : in(interpreter) {
      if (in.depth_ >= Limits::kMaxRenderDepth)
        fail_at(pos, "expected evaluation nested at most " + std::to_string(Limits::kMaxRenderDepth) +
                         " deep, found deeper (recursion through macros?)");
      ++in.depth_;
    }
    ~DepthGuard() { --in.depth_; }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;
  };

  static void append(std::string& out, const std::string& s, const SourcePos& pos) {
    out += s;
    if (out.size() > Limits::kMaxStringBytes)
      fail_at(pos, "expected output under " + std::to_string(Limits::kMaxStringBytes) + " bytes, found more");
  }

  // ---- statements ------------------------------------------------------------------------

  Flow exec_body(const Body& body, Scope& scope, std::string& out) {
    for (const NodePtr& n : body) {
      const Flow f = exec(*n, scope, out);
      if (f != Flow::Normal) return f;
    }
    return Flow::Normal;
  }

  Flow exec(const Node& n, Scope& scope, std::string& out) {
    const DepthGuard guard(*this, n.pos);
    try {
      return exec_inner(n, scope, out);
    } catch (const PositionedError&) {
      throw;
    } catch (const Error& e) {
      fail_at(n.pos, e.what());
    }
  }

  void assign(Scope& scope, const std::vector<std::string>& targets, const Value& v, const SourcePos& pos) {
    if (targets.size() == 1) {
      scope.vars[targets[0]] = v;
      return;
    }
    if (!v.is_list() || v.as_list().items.size() != targets.size())
      fail_at(pos, "expected " + std::to_string(targets.size()) + " values to unpack, found " +
                       (v.is_list() ? std::to_string(v.as_list().items.size()) + " items" : std::string("'").append(v.type_name()).append("'")));
    for (size_t i = 0; i < targets.size(); ++i) scope.vars[targets[i]] = v.as_list().items[i];
  }

  std::string render_child(const Body& body, Scope& parent) {
    Scope child;
    child.parent = &parent;
    std::string out;
    exec_body(body, child, out);
    return out;
  }

  Flow exec_inner(const Node& n, Scope& scope, std::string& out) {
    switch (n.kind) {
      case Node::Kind::Text:
        append(out, n.text, n.pos);
        return Flow::Normal;
      case Node::Kind::Output:
        append(out, eval(*n.expr, scope).str(), n.pos);
        return Flow::Normal;
      case Node::Kind::If:
        for (const auto& [cond, body] : n.branches)
          if (eval(*cond, scope).truthy()) return exec_body(body, scope, out);
        return exec_body(n.else_body, scope, out);
      case Node::Kind::For:
        exec_for(n, scope, out);
        return Flow::Normal;
      case Node::Kind::Set: {
        Value v = eval(*n.expr, scope);
        if (n.attr.empty()) {
          assign(scope, n.targets, v, n.pos);
          return Flow::Normal;
        }
        const Value* ns = scope.find(n.targets[0]);
        if (!ns) fail_at(n.pos, "'" + n.targets[0] + "' is undefined");
        if (!ns->is_dict() || !ns->as_dict().is_namespace)
          fail_at(n.pos, "expected a namespace() to assign '" + n.targets[0] + "." + n.attr + "', found '" +
                             ns->type_name() + "'");
        ns->mutable_dict().set(n.attr, std::move(v));
        return Flow::Normal;
      }
      case Node::Kind::SetBlock:
        scope.vars[n.targets[0]] = Value(render_child(n.body, scope));
        return Flow::Normal;
      case Node::Kind::Macro: {
        const Node* node = &n;
        scope.vars[n.name] = Value::function(n.name, [this, node](CallArgs& a) { return call_macro(*node, a); });
        return Flow::Normal;
      }
      case Node::Kind::Break:
        return Flow::Break;
      case Node::Kind::Continue:
        return Flow::Continue;
      case Node::Kind::FilterBlock: {
        const Value body(render_child(n.body, scope));
        append(out, filter_chain(*n.expr, body, scope).str(), n.pos);
        return Flow::Normal;
      }
      case Node::Kind::With: {
        Scope child;
        child.parent = &scope;
        for (const auto& [name, expr] : n.params) child.vars[name] = eval(*expr, scope);
        exec_body(n.body, child, out);
        return Flow::Normal;
      }
    }
    return Flow::Normal;
  }

  Value make_loop(size_t i, const std::vector<Value>& items) {
    const auto n = static_cast<int64_t>(items.size());
    const auto idx = static_cast<int64_t>(i);
    Dict d;
    d.set("index", Value(idx + 1));
    d.set("index0", Value(idx));
    d.set("revindex", Value(n - idx));
    d.set("revindex0", Value(n - idx - 1));
    d.set("first", Value(i == 0));
    d.set("last", Value(idx == n - 1));
    d.set("length", Value(n));
    d.set("depth", Value(1));
    d.set("depth0", Value(0));
    if (i > 0) d.set("previtem", items[i - 1]);
    if (idx + 1 < n) d.set("nextitem", items[i + 1]);
    d.set("cycle", Value::function("loop.cycle", [idx](CallArgs& a) {
            if (a.positional.empty()) throw Error("loop.cycle(): expected at least one value");
            return a.positional[static_cast<size_t>(idx) % a.positional.size()];
          }));
    return Value::dict(std::move(d));
  }

  void exec_for(const Node& n, Scope& scope, std::string& out) {
    const Value seq = eval(*n.expr, scope);
    std::vector<Value> items;
    try {
      items = iterate(seq);
    } catch (const Error& e) {
      fail_at(n.expr->pos, std::string("for loop: ") + e.what());
    }
    const Charge copied_items(items.size() * sizeof(Value));
    if (n.condition) {
      std::vector<Value> kept;
      for (const Value& item : items) {
        step(n.pos);
        Scope s;
        s.parent = &scope;
        assign(s, n.targets, item, n.pos);
        if (eval(*n.condition, s).truthy()) kept.push_back(item);
      }
      items = std::move(kept);
    }
    if (items.empty()) {
      Scope s;
      s.parent = &scope;
      exec_body(n.else_body, s, out);
      return;
    }
    for (size_t i = 0; i < items.size(); ++i) {
      step(n.pos);
      Scope s;
      s.parent = &scope;
      assign(s, n.targets, items[i], n.pos);
      s.vars["loop"] = make_loop(i, items);
      if (exec_body(n.body, s, out) == Flow::Break) break;
    }
  }

  Value call_macro(const Node& m, CallArgs& a) {
    if (call_depth_ >= Limits::kMaxCallDepth)
      throw Error("macro '" + m.name + "': expected calls nested at most " + std::to_string(Limits::kMaxCallDepth) +
                  " deep, found deeper recursion");
    step(m.pos);
    if (a.positional.size() > m.params.size())
      throw Error("macro '" + m.name + "': expected at most " + std::to_string(m.params.size()) +
                  " arguments, found " + std::to_string(a.positional.size()));
    Scope s;
    s.parent = &root_;
    for (size_t i = 0; i < m.params.size(); ++i) {
      if (i < a.positional.size()) s.vars[m.params[i].first] = a.positional[i];
    }
    for (auto& [k, v] : a.named) {
      bool known = false;
      for (const auto& p : m.params) known = known || p.first == k;
      if (!known) throw Error("macro '" + m.name + "': unexpected keyword argument '" + k + "'");
      s.vars[k] = v;
    }
    for (const auto& [name, dflt] : m.params) {
      if (s.vars.count(name)) continue;
      s.vars[name] = dflt ? eval(*dflt, s) : Value::undefined("parameter '" + name + "' was not provided");
    }
    const Node* node = &m;
    s.vars[m.name] = Value::function(m.name, [this, node](CallArgs& args) { return call_macro(*node, args); });
    ++call_depth_;
    std::string out;
    try {
      exec_body(m.body, s, out);
    } catch (...) {
      --call_depth_;
      throw;
    }
    --call_depth_;
    return Value(std::move(out));
  }

  // ---- expressions -----------------------------------------------------------------------

  Value eval(const Expr& e, Scope& scope) {
    const DepthGuard guard(*this, e.pos);
    try {
      return eval_inner(e, scope);
    } catch (const PositionedError&) {
      throw;
    } catch (const Error& err) {
      fail_at(e.pos, err.what());
    }
  }

  CallArgs eval_args(const Expr& e, size_t first, Scope& scope) {
    CallArgs a;
    for (size_t i = first; i < e.children.size(); ++i) a.positional.push_back(eval(*e.children[i], scope));
    for (const auto& [k, v] : e.kwargs) a.named.emplace_back(k, eval(*v, scope));
    return a;
  }

  Value apply_filter_node(const Expr& e, const Value& operand, Scope& scope) {
    CallArgs a = eval_args(e, 1, scope);
    return apply_filter(e.name, operand, a);
  }

  Value filter_chain(const Expr& e, const Value& input, Scope& scope) {
    const Value operand = e.children[0] ? filter_chain(*e.children[0], input, scope) : input;
    return apply_filter_node(e, operand, scope);
  }

  static bool compare_op(const std::string& op, const Value& l, const Value& r) {
    if (op == "==") return equals(l, r);
    if (op == "!=") return !equals(l, r);
    if (op == "in") return contains(r, l);
    if (op == "not in") return !contains(r, l);
    for (const Value* v : {&l, &r})
      if (v->is_undefined()) throw Error(v->undefined_hint());
    const int c = compare(l, r);
    if (op == "<") return c < 0;
    if (op == ">") return c > 0;
    if (op == "<=") return c <= 0;
    return c >= 0;
  }

  Value eval_inner(const Expr& e, Scope& scope) {
    switch (e.kind) {
      case Expr::Kind::Literal:
        return e.literal;
      case Expr::Kind::Name: {
        if (const Value* v = scope.find(e.name)) return *v;
        return Value::undefined("'" + e.name + "' is undefined");
      }
      case Expr::Kind::List:
      case Expr::Kind::Tuple: {
        std::vector<Value> items;
        for (const ExprPtr& c : e.children) items.push_back(eval(*c, scope));
        return Value::list(std::move(items), e.kind == Expr::Kind::Tuple);
      }
      case Expr::Kind::Dict: {
        Dict d;
        for (size_t i = 0; i + 1 < e.children.size(); i += 2) {
          const Value k = eval(*e.children[i], scope);
          if (!k.is_string()) fail_at(e.children[i]->pos, "expected a string dict key, found '" + k.type_name() + "'");
          d.set(k.as_string(), eval(*e.children[i + 1], scope));
        }
        return Value::dict(std::move(d));
      }
      case Expr::Kind::GetAttr:
        return get_attr(eval(*e.children[0], scope), e.name);
      case Expr::Kind::GetItem: {
        const Value obj = eval(*e.children[0], scope);
        return get_item(obj, eval(*e.children[1], scope));
      }
      case Expr::Kind::Slice: {
        const Value obj = eval(*e.children[0], scope);
        Value parts[3];
        for (size_t i = 0; i < 3; ++i)
          parts[i] = e.children[i + 1] ? eval(*e.children[i + 1], scope) : Value::none();
        return get_slice(obj, parts[0], parts[1], parts[2]);
      }
      case Expr::Kind::Call: {
        const Value callee = eval(*e.children[0], scope);
        if (callee.is_undefined()) throw Error(callee.undefined_hint());
        if (!callee.is_function()) throw Error("expected something callable, found '" + callee.type_name() + "'");
        CallArgs a = eval_args(e, 1, scope);
        step(e.pos);
        return callee.as_function().call(a);
      }
      case Expr::Kind::Filter:
        return apply_filter_node(e, eval(*e.children[0], scope), scope);
      case Expr::Kind::Test: {
        const Value operand = eval(*e.children[0], scope);
        CallArgs a = eval_args(e, 1, scope);
        return Value(apply_test(e.name, operand, a) != e.negated);
      }
      case Expr::Kind::Unary: {
        const Value v = eval(*e.children[0], scope);
        if (e.name == "not") return Value(!v.truthy());
        if (e.name == "-") return unary_minus(v);
        if (!v.is_number()) {
          if (v.is_undefined()) throw Error(v.undefined_hint());
          throw Error("unsupported operand type for unary +: '" + v.type_name() + "'");
        }
        return v.is_bool() ? Value(v.as_int()) : v;
      }
      case Expr::Kind::Binary: {
        const Value l = eval(*e.children[0], scope);
        if (e.name == "and") return l.truthy() ? eval(*e.children[1], scope) : l;
        if (e.name == "or") return l.truthy() ? l : eval(*e.children[1], scope);
        return binary_op(e.name, l, eval(*e.children[1], scope));
      }
      case Expr::Kind::Compare: {
        Value l = eval(*e.children[0], scope);
        for (size_t i = 0; i < e.ops.size(); ++i) {
          Value r = eval(*e.children[i + 1], scope);
          if (!compare_op(e.ops[i], l, r)) return Value(false);
          l = std::move(r);
        }
        return Value(true);
      }
      case Expr::Kind::Cond:
        if (eval(*e.children[1], scope).truthy()) return eval(*e.children[0], scope);
        return e.children[2] ? eval(*e.children[2], scope) : Value::undefined("the condition was false and there is no else");
    }
    return Value();
  }
};

void check_expr(const Expr* e) {
  if (!e) return;
  if (e->kind == Expr::Kind::Filter && !has_filter(e->name)) fail_at(e->pos, "no filter named '" + e->name + "'");
  if (e->kind == Expr::Kind::Test && !has_test(e->name)) fail_at(e->pos, "no test named '" + e->name + "'");
  for (const ExprPtr& c : e->children) check_expr(c.get());
  for (const auto& kv : e->kwargs) check_expr(kv.second.get());
}

void check_body(const Body& body) {
  for (const NodePtr& n : body) {
    check_expr(n->expr.get());
    check_expr(n->condition.get());
    for (const auto& [cond, b] : n->branches) {
      check_expr(cond.get());
      check_body(b);
    }
    for (const auto& p : n->params) check_expr(p.second.get());
    check_body(n->body);
    check_body(n->else_body);
  }
}

}  // namespace

void check_names(const Body& body) { check_body(body); }

std::string render(const Body& body, const Value& context, const std::optional<std::tm>& now) {
  // Declared first: every value the interpreter makes is freed before the budget is.
  RenderBudget budget(Limits::kMaxRenderBytes, std::chrono::milliseconds(Limits::kMaxRenderMilliseconds));
  return Interpreter(now).run(body, context);
}

}  // namespace entropix::jinja
