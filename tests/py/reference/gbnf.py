"""An independent reading of GBNF (llama.cpp's grammar syntax, the subset the engine
accepts) for the tests: a parser into plain BNF over code points, a random generator
(a walk over the rules that turns to the shortest way out when deep), and an Earley
recognizer that says whether a text is in the grammar."""
import random


class GrammarError(Exception):
    pass


# ---- parsing -----------------------------------------------------------------------

class CharSet:
    """A character class: ranges of code points, perhaps negated; `any` for '.'."""

    def __init__(self, ranges, negated=False):
        self.ranges = ranges
        self.negated = negated

    def __contains__(self, ch):
        cp = ord(ch)
        inside = any(lo <= cp <= hi for lo, hi in self.ranges)
        return inside != self.negated

    def sample(self, rng):
        if not self.negated:
            lo, hi = rng.choice(self.ranges)
            return chr(rng.randint(lo, hi))
        # A negated class: mostly printable ASCII, sometimes a wider code point.
        for _ in range(1000):
            cp = rng.randint(0x20, 0x7E) if rng.random() < 0.8 else rng.choice([0xE9, 0x4E2D, 0x1F600, 0x3B1])
            if chr(cp) in self:
                return chr(cp)
        raise GrammarError("cannot sample from a negated class")


ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "[": "[", "]": "]", "-": "-", "^": "^", "/": "/"}


class Parser:
    def __init__(self, text):
        self.text = text
        self.pos = 0

    def error(self, what):
        line = self.text.count("\n", 0, self.pos) + 1
        raise GrammarError(f"line {line}: {what} at {self.text[self.pos:self.pos + 30]!r}")

    def skip_space(self, newlines):
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c == "#":
                while self.pos < len(self.text) and self.text[self.pos] != "\n":
                    self.pos += 1
            elif c in " \t" or (newlines and c in "\r\n"):
                self.pos += 1
            else:
                break

    def name(self):
        start = self.pos
        while self.pos < len(self.text) and (self.text[self.pos].isalnum() or self.text[self.pos] == "-"):
            self.pos += 1
        if start == self.pos:
            self.error("expected a rule name")
        return self.text[start:self.pos]

    def char(self):
        """One possibly escaped character of a literal or class."""
        c = self.text[self.pos]
        if c != "\\":
            self.pos += 1
            return c
        e = self.text[self.pos + 1]
        if e in "xuU":
            n = {"x": 2, "u": 4, "U": 8}[e]
            digits = self.text[self.pos + 2:self.pos + 2 + n]
            if len(digits) != n or any(d not in "0123456789abcdefABCDEF" for d in digits):
                self.error("bad hex escape")
            self.pos += 2 + n
            return chr(int(digits, 16))
        if e not in ESCAPES:
            self.error("unknown escape")
        self.pos += 2
        return ESCAPES[e]

    def number(self):
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos].isdigit():
            self.pos += 1
        if start == self.pos:
            self.error("expected a number")
        return int(self.text[start:self.pos])

    def item(self):
        c = self.text[self.pos]
        if c == '"':
            self.pos += 1
            chars = []
            while self.text[self.pos] != '"':
                chars.append(self.char())
            self.pos += 1
            node = ("lit", "".join(chars))
        elif c == "[":
            self.pos += 1
            negated = self.text[self.pos] == "^"
            if negated:
                self.pos += 1
            ranges = []
            while self.text[self.pos] != "]":
                lo = self.char()
                hi = lo
                if self.text[self.pos] == "-" and self.text[self.pos + 1] != "]":
                    self.pos += 1
                    hi = self.char()
                ranges.append((ord(lo), ord(hi)))
            self.pos += 1
            node = ("set", CharSet(ranges, negated))
        elif c == ".":
            self.pos += 1
            node = ("set", CharSet([], True))
        elif c == "(":
            self.pos += 1
            node = self.alternatives(inside_group=True)
            self.skip_space(True)
            if self.text[self.pos] != ")":
                self.error("expected ')'")
            self.pos += 1
        else:
            node = ("ref", self.name())
        while self.pos < len(self.text) and self.text[self.pos] in "*+?{":
            op = self.text[self.pos]
            self.pos += 1
            if op == "*":
                node = ("rep", node, 0, None)
            elif op == "+":
                node = ("rep", node, 1, None)
            elif op == "?":
                node = ("rep", node, 0, 1)
            else:
                lo = self.number()
                hi = lo
                if self.text[self.pos] == ",":
                    self.pos += 1
                    hi = None if self.text[self.pos] == "}" else self.number()
                if self.text[self.pos] != "}":
                    self.error("expected '}'")
                self.pos += 1
                node = ("rep", node, lo, hi)
        return node

    def sequence(self, inside_group):
        items = []
        while True:
            self.skip_space(inside_group)
            if self.pos >= len(self.text) or self.text[self.pos] in "|)\n\r":
                return ("seq", items)
            items.append(self.item())

    def alternatives(self, inside_group=False):
        alts = [self.sequence(inside_group)]
        while True:
            self.skip_space(inside_group)
            if self.pos < len(self.text) and self.text[self.pos] == "|":
                self.pos += 1
                alts.append(self.sequence(inside_group))
            else:
                return ("alt", alts)

    def rules(self):
        rules = {}
        while True:
            self.skip_space(True)
            if self.pos >= len(self.text):
                return rules
            name = self.name()
            self.skip_space(False)
            if not self.text.startswith("::=", self.pos):
                self.error("expected '::='")
            self.pos += 3
            if name in rules:
                self.error(f"rule {name} defined twice")
            rules[name] = self.alternatives()


class Grammar:
    """Plain BNF: nonterminal -> list of productions, each a list of symbols; a symbol is
    a nonterminal name (str) or a CharSet."""

    def __init__(self, text, start="root"):
        ast = Parser(text).rules()
        if start not in ast:
            raise GrammarError(f"no rule {start}")
        self.rules = {}
        self.fresh = 0
        for name in ast:
            self.rules[name] = None
        for name, node in ast.items():
            self.rules[name] = self.productions(node)
        for name, prods in self.rules.items():
            for p in prods:
                for s in p:
                    if isinstance(s, str) and s not in self.rules:
                        raise GrammarError(f"rule {name} refers to undefined {s}")
        self.start = start
        self.nullable = self.compute_nullable()
        self.height = self.compute_height()

    def new_rule(self, productions):
        self.fresh += 1
        name = f" g{self.fresh}"
        self.rules[name] = productions
        return name

    def symbols(self, node):
        kind = node[0]
        if kind == "lit":
            return [CharSet([(ord(c), ord(c))]) for c in node[1]]
        if kind == "set":
            return [node[1]]
        if kind == "ref":
            return [node[1]]
        if kind in ("alt", "seq"):
            return [self.new_rule(self.productions(node))]
        _, item, lo, hi = node
        body = self.symbols(item)
        out = body * lo
        if hi is None:
            star = self.new_rule(None)
            self.rules[star] = [[], body + [star]]
            out.append(star)
        elif hi > lo:
            tail = None
            for _ in range(hi - lo):
                tail = self.new_rule([[], body + ([tail] if tail else [])])
            out.append(tail)
        return out

    def productions(self, node):
        if node[0] == "alt":
            return [p for alt in node[1] for p in self.productions(alt)]
        if node[0] == "seq":
            out = []
            for item in node[1]:
                out += self.symbols(item)
            return [out]
        return [self.symbols(node)]

    def compute_nullable(self):
        nullable = set()
        changed = True
        while changed:
            changed = False
            for name, prods in self.rules.items():
                if name not in nullable and any(all(isinstance(s, str) and s in nullable for s in p) for p in prods):
                    nullable.add(name)
                    changed = True
        return nullable

    def compute_height(self):
        """The least derivation height of each nonterminal (how to get out fast)."""
        inf = float("inf")
        height = {name: inf for name in self.rules}
        changed = True
        while changed:
            changed = False
            for name, prods in self.rules.items():
                for p in prods:
                    h = 1 + max([height[s] if isinstance(s, str) else 0 for s in p], default=0)
                    if h < height[name]:
                        height[name] = h
                        changed = True
        for name, h in height.items():
            if h == inf:
                raise GrammarError(f"rule {name.strip()} derives no finite text")
        return height

    # ---- generation ----------------------------------------------------------------

    def generate(self, rng, soft_depth=40, max_chars=3000):
        """A random text of the grammar: random productions up to soft_depth nested
        rules (or max_chars), then always the production of least height."""
        out = []
        stack = [(self.start, 0)]
        while stack:
            sym, depth = stack.pop()
            if not isinstance(sym, str):
                out.append(sym.sample(rng))
                continue
            prods = self.rules[sym]
            if depth < soft_depth and len(out) < max_chars:
                prod = rng.choice(prods)
            else:
                prod = min(prods, key=lambda p: 1 + max([self.height[s] if isinstance(s, str) else 0 for s in p], default=0))
            for s in reversed(prod):
                stack.append((s, depth + 1))
        return "".join(out)

    # ---- recognition ---------------------------------------------------------------

    def accepts(self, text):
        """Earley recognition with nullable completion (Aycock and Horspool)."""
        if not hasattr(self, "prods"):
            self.prods = [(name, tuple(p)) for name, ps in self.rules.items() for p in ps]
            self.by_name = {}
            for i, (name, _) in enumerate(self.prods):
                self.by_name.setdefault(name, []).append(i)
        prods, by_name = self.prods, self.by_name
        sets = [set() for _ in range(len(text) + 1)]
        waiting = [dict() for _ in range(len(text) + 1)]  # set k: nonterminal -> items waiting on it

        def add(k, item, agenda):
            if item in sets[k]:
                return
            sets[k].add(item)
            agenda.append(item)
            pi, dot, _ = item
            body = prods[pi][1]
            if dot < len(body) and isinstance(body[dot], str):
                waiting[k].setdefault(body[dot], []).append(item)

        for k in range(len(text) + 1):
            agenda = []
            if k == 0:
                for i in by_name[self.start]:
                    add(0, (i, 0, 0), agenda)
            else:
                for item in list(sets[k]):
                    sets[k].discard(item)
                    add(k, item, agenda)
            while agenda:
                pi, dot, origin = agenda.pop()
                name, body = prods[pi]
                if dot < len(body):
                    sym = body[dot]
                    if isinstance(sym, str):
                        for j in by_name[sym]:
                            add(k, (j, 0, k), agenda)
                        if sym in self.nullable:
                            add(k, (pi, dot + 1, origin), agenda)
                    elif k < len(text) and text[k] in sym:
                        sets[k + 1].add((pi, dot + 1, origin))
                else:
                    for (pj, dj, oj) in list(waiting[origin].get(name, ())):
                        add(k, (pj, dj + 1, oj), agenda)
            if k < len(text) and not sets[k + 1]:
                return False
        return any(prods[pi][0] == self.start and dot == len(prods[pi][1]) and origin == 0
                   for (pi, dot, origin) in sets[len(text)])


def random_texts(grammar_text, count, seed):
    g = Grammar(grammar_text)
    rng = random.Random(seed)
    return [g.generate(rng) for _ in range(count)]
