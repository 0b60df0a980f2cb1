"""Random JSON schemas of the features the converter supports (seeded), and a
validator for them whose formats (date, time, date-time, uuid) are checked here,
independently of the converter. Shared by the converter's test and the structured
output tests."""
import datetime
import re
import uuid

import jsonschema

# ---- formats, checked independently of the converter ------------------------------

TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$")
formats = jsonschema.FormatChecker(formats=())


@formats.checks("date", raises=ValueError)
def is_date(s):
    if not isinstance(s, str):
        return True
    return re.fullmatch(r"\d{4}-\d{2}-\d{2}", s) is not None and datetime.date.fromisoformat(s) is not None


@formats.checks("time")
def is_time(s):
    return not isinstance(s, str) or TIME.match(s) is not None


@formats.checks("date-time", raises=ValueError)
def is_date_time(s):
    if not isinstance(s, str):
        return True
    date, sep, rest = s.partition("T")
    return sep == "T" and is_date(date) and is_time(rest)


@formats.checks("uuid", raises=ValueError)
def is_uuid(s):
    return not isinstance(s, str) or (len(s) == 36 and str(uuid.UUID(s)) == s.lower())


def validator(schema):
    return jsonschema.Draft202012Validator(schema, format_checker=formats)


# ---- random schemas -----------------------------------------------------------------

KEY_PARTS = ["id", "name", "a", "ab", "abc", "x/y", "q\"uote", "back\\slash", "caf\u00e9", "\u4e2d", "tab\t", "emoji\U0001F600", ""]


class SchemaMaker:
    """Random schemas of the supported features; `defs` collects $defs for $ref."""

    def __init__(self, rng):
        self.rng = rng
        self.defs = {}

    def key(self):
        return self.rng.choice(KEY_PARTS) + self.rng.choice(["", "", "2", "_x"])

    def number_bound(self, integer):
        r = self.rng
        return r.randint(-50, 50) if integer or r.random() < 0.6 else r.choice([0.5, -2.25, 1.75, 10.125, -0.1, 3.3])

    def leaf(self):
        r = self.rng
        kind = r.choice(["string", "string", "integer", "number", "boolean", "null", "enum", "const", "format", "any"])
        if kind == "string":
            s = {"type": "string"}
            if r.random() < 0.5:
                lo = r.randint(0, 3)
                s["minLength"] = lo
                if r.random() < 0.7:
                    s["maxLength"] = lo + r.randint(0, 5)
            return s
        if kind in ("integer", "number"):
            s = {"type": kind}
            lo, hi = sorted([self.number_bound(kind == "integer"), self.number_bound(kind == "integer")])
            if r.random() < 0.7:
                s[r.choice(["minimum", "exclusiveMinimum"])] = lo
            if r.random() < 0.7:
                s[r.choice(["maximum", "exclusiveMaximum"])] = hi + (1 if "exclusiveMinimum" in s else 0)
            if r.random() < 0.2 and kind == "integer":
                s = {"type": "integer", "minimum": r.randint(-10**12, 10**12), "maximum": 10**15 + r.randint(0, 10**12)}
            return s
        if kind == "boolean":
            return {"type": "boolean"}
        if kind == "null":
            return {"type": "null"}
        if kind == "enum":
            values = r.sample(["red", "green", "blu\"e", 1, 2.5, None, True, [1, "a"], {"k": "v"}, "\u00e9t\u00e9", ""], r.randint(1, 5))
            return {"enum": values}
        if kind == "const":
            return {"const": r.choice(["fixed", 42, False, {"a": [1, 2]}, None])}
        if kind == "format":
            return {"type": "string", "format": r.choice(["date", "time", "date-time", "uuid"])}
        return {} if r.random() < 0.5 else True

    def schema(self, depth):
        r = self.rng
        if depth <= 0 or r.random() < 0.3:
            return self.leaf()
        kind = r.choice(["object", "object", "array", "tuple", "anyOf", "oneOf", "nullable", "ref", "allOf", "recursive"])
        if kind == "object":
            return self.object(depth)
        if kind == "array":
            s = {"type": "array", "items": self.schema(depth - 1)}
            if r.random() < 0.5:
                s["minItems"] = r.randint(0, 2)
            if r.random() < 0.5:
                s["maxItems"] = s.get("minItems", 0) + r.randint(0, 3)
            if r.random() < 0.1:
                s = {"type": "array", "items": self.leaf(), "minItems": 0, "maxItems": 150}
            return s
        if kind == "tuple":
            s = {"type": "array", "prefixItems": [self.schema(depth - 1) for _ in range(r.randint(1, 3))]}
            roll = r.random()
            if roll < 0.3:
                s["items"] = False
            elif roll < 0.6:
                s["items"] = self.leaf()
            if r.random() < 0.5:
                s["minItems"] = r.randint(0, len(s["prefixItems"]))
            if r.random() < 0.3:
                s["maxItems"] = s.get("minItems", 0) + r.randint(0, 3)
            return s
        if kind == "anyOf":
            return {"anyOf": [self.schema(depth - 1) for _ in range(r.randint(1, 3))], "description": "one of several"}
        if kind == "oneOf":
            # Branches of different types, so at most one matches (oneOf is written as anyOf).
            types = r.sample(["string", "integer", "boolean", "null", "array", "object"], r.randint(2, 3))
            branches = []
            for t in types:
                if t == "array":
                    branches.append({"type": "array", "items": self.leaf(), "maxItems": 3})
                elif t == "object":
                    branches.append(self.object(depth - 1))
                else:
                    branches.append({"type": t})
            return {"oneOf": branches}
        if kind == "nullable":
            inner = self.leaf()
            if isinstance(inner, dict) and inner.get("type") in ("string", "integer", "number", "boolean"):
                inner["type"] = [inner["type"], "null"]
                return inner
            return {"anyOf": [inner, {"type": "null"}]}
        if kind == "ref":
            name = f"Def{len(self.defs)}"
            self.defs[name] = {}  # the name taken before the definition, which may add others
            self.defs[name] = self.schema(depth - 1)
            return {"$ref": f"#/$defs/{name}", "title": "a reference"}
        if kind == "allOf":
            a, b = self.object(depth - 1, closed=False), self.object(depth - 1, closed=False)
            for k in list(b.get("properties", {})):
                if k in a.get("properties", {}):
                    del b["properties"][k]
                    b["required"] = [x for x in b.get("required", []) if x != k]
            return {"allOf": [a, b]}
        # A recursive definition: a tree node whose children are nodes.
        name = f"Node{len(self.defs)}"
        self.defs[name] = {"type": "object", "properties": {"value": self.leaf(),
                                                           "children": {"type": "array", "items": {"$ref": f"#/$defs/{name}"}, "maxItems": 2}},
                           "required": ["value"], "additionalProperties": False}
        return {"$ref": f"#/$defs/{name}"}

    def object(self, depth, closed=None):
        r = self.rng
        props = {}
        for _ in range(r.randint(0, 5)):
            props[self.key()] = self.schema(depth - 1)
        s = {"type": "object", "properties": props}
        required = [k for k in props if r.random() < 0.5]
        if required or r.random() < 0.5:
            s["required"] = required
        roll = r.random()
        if closed is False:
            pass
        elif roll < 0.4:
            s["additionalProperties"] = False
        elif roll < 0.55:
            s["additionalProperties"] = True
        elif roll < 0.7:
            s["additionalProperties"] = self.leaf()
        if r.random() < 0.05:
            s = {"type": "object"}
        return s

    def make(self):
        root = self.schema(self.rng.randint(1, 4))
        if self.defs:
            if not isinstance(root, dict):
                root = {"anyOf": [root]}
            root = dict(root)
            root["$defs"] = self.defs
        return root
