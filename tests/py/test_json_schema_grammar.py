"""`entropix grammar --json-schema` checked from outside: a few hundred random schemas
from the supported feature set (seeded), each turned into GBNF by the binary; every
text a random walk over the grammar writes must parse as JSON and validate against
the schema (the `jsonschema` package, formats checked); and valid instances written
independently (compact, declared properties first, in order) must be in the grammar
(an Earley recognizer). Unsupported keywords and hostile schemas end in status 1
with an error naming the keyword and where it is."""
import datetime
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import engine_cli  # noqa: E402
from reference import gbnf  # noqa: E402
from reference.checks import Checks  # noqa: E402

try:
    import jsonschema
except ImportError:
    engine_cli.skip("test_json_schema_grammar", "python3-jsonschema is not installed (bash scripts/setup.sh installs it)")

TEST = "test_json_schema_grammar"
check = Checks(TEST)
exe = engine_cli.binary(TEST)
SCHEMAS = 300
TEXTS_PER_SCHEMA = 20
started = time.time()


from reference.json_schemas import SchemaMaker, validator  # noqa: E402


# ---- valid instances, written independently -----------------------------------------

class InstanceMaker:
    """Random instances of a schema in the grammar's documented form: declared
    properties first in declaration order, then additional ones; bounded numbers as
    plain decimals; formats canonical."""

    def __init__(self, root, rng):
        self.root = root
        self.rng = rng

    def resolve(self, ref):
        node = self.root
        for part in ref[2:].split("/") if ref != "#" else []:
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def string(self, lo=0, hi=None):
        hi = lo + 6 if hi is None else hi
        alphabet = "abc xyz\"\\/\n\u00e9\u4e2d\U0001F600"
        return "".join(self.rng.choice(alphabet) for _ in range(self.rng.randint(lo, hi)))

    def any_value(self, depth):
        kind = self.rng.choice(["s", "n", "b", "z", "o", "a"] if depth < 2 else ["s", "n", "b", "z"])
        return {"s": lambda: self.string(), "n": lambda: self.rng.randint(-99, 99), "b": lambda: True, "z": lambda: None,
                "o": lambda: {"k": self.any_value(depth + 1)}, "a": lambda: [self.any_value(depth + 1)]}[kind]()

    def value(self, s, depth=0):
        r = self.rng
        if s is True or s == {}:
            return self.any_value(depth)
        if "$ref" in s:
            return self.value(self.resolve(s["$ref"]), depth + 1)
        if "anyOf" in s or "oneOf" in s:
            return self.value(r.choice(s.get("anyOf") or s.get("oneOf")), depth + 1)
        if "allOf" in s:
            merged = {"type": "object", "properties": {}, "required": []}
            for part in s["allOf"]:
                merged["properties"].update(part.get("properties", {}))
                merged["required"] += part.get("required", [])
            return self.value(merged, depth)
        if "enum" in s:
            return r.choice(s["enum"])
        if "const" in s:
            return s["const"]
        t = s.get("type")
        if isinstance(t, list):
            t = r.choice(t)
        if t == "string":
            f = s.get("format")
            if f == "date":
                return "2024-02-29"
            if f == "time":
                return r.choice(["23:59:59Z", "00:00:00.5+05:30"])
            if f == "date-time":
                return "1999-12-31T12:30:00.125-08:00"
            if f == "uuid":
                return str(uuid.UUID(int=r.getrandbits(128)))
            lo = s.get("minLength", 0)
            return self.string(lo, s.get("maxLength", lo + 6))
        if t in ("integer", "number"):
            lo = s.get("minimum", s.get("exclusiveMinimum", -100))
            hi = s.get("maximum", s.get("exclusiveMaximum", lo + 100))
            for _ in range(100):
                v = r.randint(int(lo) - 1, int(hi) + 1)
                if t == "number" and r.random() < 0.5:
                    v += r.choice([0.25, 0.5, 0.75])
                ok = ("minimum" not in s or v >= s["minimum"]) and ("exclusiveMinimum" not in s or v > s["exclusiveMinimum"]) and \
                     ("maximum" not in s or v <= s["maximum"]) and ("exclusiveMaximum" not in s or v < s["exclusiveMaximum"])
                if ok:
                    return v
            return None  # no easy value: the caller skips this schema
        if t == "boolean":
            return r.random() < 0.5
        if t == "null":
            return None
        if t == "array":
            out = []
            prefix = s.get("prefixItems", [])
            lo = s.get("minItems", 0)
            hi = s.get("maxItems", lo + 3)
            if s.get("items") is False:
                hi = min(hi, len(prefix))
            n = r.randint(lo, min(hi, lo + 3))
            for i in range(n):
                out.append(self.value(prefix[i] if i < len(prefix) else s.get("items", True), depth + 1))
            return out
        if t == "object" or "properties" in s:
            out = {}
            props = s.get("properties", {})
            required = s.get("required", [])
            for k, sub in props.items():
                if k in required or r.random() < 0.5:
                    out[k] = self.value(sub, depth + 1)
            extra = s.get("additionalProperties", "properties" not in s)
            if extra is not False and r.random() < 0.5:
                out["zz" + self.string(0, 2)] = self.value(True if extra is True else extra, depth + 1)
            return out
        return self.any_value(depth)


def dump(value, spaced):
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": ") if spaced else (",", ":"))


# ---- running the converter ----------------------------------------------------------

def grammar_of(schema, *flags):
    """(status, grammar, stderr) of `entropix grammar` on a schema (or its JSON text)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write(schema if isinstance(schema, str) else json.dumps(schema, ensure_ascii=False))
        path = f.name
    try:
        proc = subprocess.run([exe, "grammar", "--json-schema", path, *flags], capture_output=True, timeout=60)
    finally:
        os.unlink(path)
    return proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8", errors="replace")


def run_all(schemas, *flags):
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda s: grammar_of(s, *flags), schemas))


# ---- random schemas: every sampled text is valid ------------------------------------

rng = random.Random(20240622)
schemas = [SchemaMaker(rng).make() for _ in range(SCHEMAS)]
results = run_all(schemas)
converted = 0
texts_checked = 0
sample_failures = []
converse_checked = 0
converse_failures = []
for i, (schema, (rc, grammar_text, err)) in enumerate(zip(schemas, results)):
    if rc != 0:
        sample_failures.append(f"schema {i} was refused: {err.strip()}\n{json.dumps(schema)}")
        continue
    converted += 1
    try:
        g = gbnf.Grammar(grammar_text)
    except gbnf.GrammarError as e:
        sample_failures.append(f"schema {i}: the grammar does not parse: {e}\n{grammar_text}")
        continue
    v = validator(schema)
    text_rng = random.Random(i)
    for _ in range(TEXTS_PER_SCHEMA):
        text = g.generate(text_rng)
        texts_checked += 1
        try:
            value = json.loads(text)
        except ValueError as e:
            sample_failures.append(f"schema {i}: {text!r} is not JSON ({e})\n{json.dumps(schema)}")
            break
        errors = list(v.iter_errors(value))
        if errors:
            sample_failures.append(f"schema {i}: {text!r} does not validate: {errors[0].message}\n{json.dumps(schema)}")
            break
    # The converse on every third schema: independent valid instances are accepted.
    if i % 3 == 0:
        maker = InstanceMaker(schema, random.Random(1000 + i))
        for attempt in range(3):
            try:
                value = maker.value(schema)
            except RecursionError:
                continue
            text = dump(value, spaced=attempt == 1)
            if len(text) > 400 or list(v.iter_errors(value)):
                continue  # too long for the recognizer, or the maker could not satisfy this schema
            converse_checked += 1
            if not g.accepts(text):
                converse_failures.append(f"schema {i}: {text!r} is valid but not in the grammar\n{json.dumps(schema)}\n{grammar_text}")

check(converted == len(schemas), f"all {len(schemas)} random schemas convert ({converted} did)")
check(not sample_failures, f"{texts_checked} sampled texts parse as JSON and validate"
      + ("" if not sample_failures else ":\n  " + "\n  ".join(sample_failures[:5])))
check(converse_checked >= SCHEMAS // 6 and not converse_failures,
      f"{converse_checked} independent valid instances are in the grammar"
      + ("" if not converse_failures else ":\n  " + "\n  ".join(converse_failures[:3])))

# ---- hand-written cases: texts in and out of the grammar ------------------------------

CASES = [
    ({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}, "required": ["b"], "additionalProperties": False},
     ['{"b":""}', '{"a":1,"b":"x"}', '{"a": -7, "b": "x"}'],
     ['{}', '{"b":"x","a":1}', '{"a":1}', '{"b":"x","c":1}', '{ "b":"x"}', '{"b":"x"} ', '{"b":"x",  "a":1}']),
    ({"type": "integer", "minimum": -15, "maximum": 120},
     ["-15", "-9", "0", "7", "99", "100", "120"], ["-16", "121", "007", "-0", "1.0", "200", "1e2"]),
    ({"type": "integer", "exclusiveMinimum": 9, "exclusiveMaximum": 1000},
     ["10", "999", "500"], ["9", "1000", "0"]),
    ({"type": "number", "minimum": 0.5, "exclusiveMaximum": 2},
     ["0.5", "0.50", "1", "1.999", "0.75"], ["0.4999", "2", "2.0", "-1", "0.49"]),
    ({"type": "number", "exclusiveMinimum": -1.25, "maximum": -0.5},
     ["-1.2", "-0.5", "-1.249", "-1"], ["-1.25", "-0.49", "0", "-2"]),
    ({"type": "string", "format": "date"}, ['"2024-02-29"', '"1999-12-31"'], ['"2023-02-29"', '"2024-13-01"', '"2024-04-31"', '"0000-01-01"']),
    ({"type": "string", "format": "uuid"}, ['"123e4567-e89b-12d3-a456-426614174000"'], ['"123e4567e89b12d3a456426614174000"']),
    ({"type": "string", "minLength": 2, "maxLength": 3}, ['"ab"', '"a\\"c"', '"\\u00e9t\\u00e9"'], ['"a"', '"abcd"', '"\\ud800"']),
    ({"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "items": False, "minItems": 1},
     ["[1]", '[1,"a"]'], ["[]", '[1,"a",2]', '["a"]']),
    ({"type": "array", "items": {"type": "boolean"}, "minItems": 2, "maxItems": 3},
     ["[true,false]", "[true, true, false]"], ["[true]", "[true,true,true,true]"]),
    ({"const": {"a": [1, 2]}}, ['{"a":[1,2]}', '{"a": [1, 2]}'], ['{"a":[1,  2]}', '{ "a":[1,2]}']),
    ({"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": {"type": "integer"}},
     ['{"a":1,"b":2}', '{"ab":3}', '{"b":2,"c":3}'], ['{"a":1,"a":2}', '{"b":2,"a":1}', '{"\\u0061":1}']),
    ({"enum": ["a", 1, None, [1, {"x": True}]]}, ['"a"', "1", "null", '[1,{"x":true}]'], ['"b"', '[1,{"x":false}]']),
]
for schema, good, bad in CASES:
    rc, grammar_text, err = grammar_of(schema)
    if not check(rc == 0, f"{json.dumps(schema)} converts ({err.strip()})"):
        continue
    g = gbnf.Grammar(grammar_text)
    v = validator(schema)
    for text in good:
        check(g.accepts(text), f"{json.dumps(schema)}: {text} is in the grammar")
    for text in bad:
        check(not g.accepts(text), f"{json.dumps(schema)}: {text} is not")
        if g.accepts(text):
            print(grammar_text)

rc, grammar_text, err = grammar_of({"type": "object", "properties": {"a": {"type": "integer"}}}, "--no-space")
check(rc == 0 and gbnf.Grammar(grammar_text).accepts('{"a":1}') and not gbnf.Grammar(grammar_text).accepts('{"a": 1}'),
      "--no-space: no space after ':'")
proc = subprocess.run([exe, "grammar", "--json-object"], capture_output=True, timeout=60)
g = gbnf.Grammar(proc.stdout.decode())
check(all(g.accepts(t) for t in ['{}', '{"a":[1,{"b":null}]}', '{"k": "v", "n": -1.5e3}']) and not g.accepts("[]"),
      "--json-object: any JSON object, nothing else")

# ---- refused schemas: status 1, the keyword and where it is ---------------------------

REFUSED = [
    ({"type": "object", "properties": {"zip": {"type": "string", "pattern": "^[0-9]{5}$"}}}, "'pattern' at /properties/zip is not supported"),
    ({"type": "string", "format": "email"}, "'format': \"email\" at the root is not supported"),
    ({"not": {"type": "string"}}, "'not' at the root is not supported"),
    ({"type": "array", "items": {"type": "integer"}, "uniqueItems": True}, "'uniqueItems' at the root is not supported"),
    ({"type": "integer", "multipleOf": 3}, "'multipleOf' at the root is not supported"),
    ({"type": 5}, "'type' at the root must be one of"),
    ({"$ref": "#/$defs/missing"}, "points to nothing"),
    ({"$ref": "https://example.com/s.json"}, "only references inside the schema"),
    ({"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}, "left-recursive"),
    ({"type": "array", "maxItems": 10**9}, "'maxItems' 1000000000 at the root is over the limit"),
    ({"enum": list(range(5000))}, "over the limit of 4096"),
    ({"type": "object", "properties": {"a": {"type": "string"}}}, "strict mode: 'additionalProperties' at the root must be false"),
]
for schema, needle in REFUSED:
    flags = ["--strict"] if "strict" in needle else []
    rc, _, err = grammar_of(schema, *flags)
    check(rc == 1 and needle in err, f"refused with {needle!r} (status {rc}, {err.strip()[:160]!r})")

deep = {"type": "object", "properties": {}}
node = deep
for _ in range(100):
    node["properties"]["n"] = {"type": "object", "properties": {}}
    node = node["properties"]["n"]
rc, _, err = grammar_of(deep)
check(rc == 1 and "deeper than" in err, f"a schema 100 objects deep is refused ({err.strip()[:120]!r})")
rc, _, err = grammar_of("[" * 100000 + "]" * 100000)
check(rc == 1 and "deeper than" in err, f"JSON nested 100000 deep is refused, no crash ({err.strip()[:120]!r})")

elapsed = time.time() - started
print(f"{TEST}: {elapsed:.1f} s")  # speed is not a test: sanitizer builds run this too
sys.exit(check.status())
