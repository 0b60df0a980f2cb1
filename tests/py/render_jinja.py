#!/usr/bin/python3
"""Reference renderer for chat templates: Debian's python3-jinja2, set up the way Hugging
Face transformers' apply_chat_template sets it up (ImmutableSandboxedEnvironment with
trim_blocks and lstrip_blocks, the loopcontrols extension and a {% generation %} block,
its json.dumps-based tojson filter, raise_exception and strftime_now globals).
strftime_now formats the context's "now" ("YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS") when it
is given, so renderings are deterministic.

  render_jinja.py TEMPLATE CONTEXT.json   -> the rendering on stdout; exit 1 with the
                                             error on stderr if rendering fails
  render_jinja.py --cases TEMPLATE CASES.json
                                          -> a JSON array on stdout, one entry per case
                                             {"name", "ok", "output" | "error"}
Exit status 77 when jinja2 cannot be imported.
"""
import datetime
import json
import sys

try:
    import jinja2
    from jinja2 import nodes
    from jinja2.ext import Extension, loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError as exc:  # pragma: no cover - depends on the machine
    print(f"jinja2 not importable: {exc}", file=sys.stderr)
    sys.exit(77)


class GenerationBlock(Extension):
    """{% generation %}...{% endgeneration %} renders its body, as transformers' tracker does."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def make_env(now):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(format):
        return (now or datetime.datetime.now()).strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationBlock, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def parse_now(context):
    text = context.get("now")
    if not isinstance(text, str):
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.datetime.strptime(text, fmt)
        except ValueError:
            pass
    raise ValueError(f"bad now: {text!r}")


def render(source, context):
    return make_env(parse_now(context)).from_string(source).render(**context)


def main(argv):
    if len(argv) == 4 and argv[1] == "--cases":
        with open(argv[2], encoding="utf-8") as f:
            source = f.read()
        with open(argv[3], encoding="utf-8") as f:
            cases = json.load(f)
        results = []
        for case in cases:
            try:
                results.append({"name": case["name"], "ok": True,
                                "output": render(source, case["context"])})
            except Exception as exc:  # the template's own errors and jinja2's
                results.append({"name": case["name"], "ok": False,
                                "error": f"{type(exc).__name__}: {exc}"})
        sys.stdout.write(json.dumps(results, ensure_ascii=True))
        return 0
    if len(argv) == 3:
        with open(argv[1], encoding="utf-8") as f:
            source = f.read()
        with open(argv[2], encoding="utf-8") as f:
            context = json.load(f)
        try:
            out = render(source, context)
        except Exception as exc:
            print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        sys.stdout.buffer.write(out.encode("utf-8"))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
