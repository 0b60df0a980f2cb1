#!/usr/bin/python3
"""Checks the reference renderer (tests/py/render_jinja.py) that the C++ chat-template
tests compare against: that it sets jinja2 up the way transformers' apply_chat_template
does. Expected strings are written by hand from transformers' documented behaviour.
Exit 77 (skipped) when jinja2 is not importable."""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "render_jinja.py")
SOURCE = os.environ.get("ENTROPIX_SOURCE_DIR", os.path.dirname(os.path.dirname(HERE)))
TESTDATA = os.environ.get("ENTROPIX_TESTDATA") or os.environ.get("ENTROPIX_DEFAULT_TESTDATA") or \
    os.path.join(SOURCE, "..", "shared", "testdata")

try:
    import jinja2  # noqa: F401
except ImportError:
    print("SKIP: python3-jinja2 not importable")
    sys.exit(77)


def run(template, context):
    with tempfile.TemporaryDirectory() as d:
        tpl = os.path.join(d, "t.jinja")
        ctx = os.path.join(d, "c.json")
        with open(tpl, "w", encoding="utf-8") as f:
            f.write(template)
        with open(ctx, "w", encoding="utf-8") as f:
            json.dump(context, f)
        p = subprocess.run([sys.executable, SCRIPT, tpl, ctx], capture_output=True)
        return p.returncode, p.stdout.decode("utf-8"), p.stderr.decode("utf-8")


failures = []


def check(name, got, want):
    if got != want:
        failures.append(f"{name}: got {got!r}, want {want!r}")


# trim_blocks and lstrip_blocks are on; one trailing newline is dropped.
check("whitespace", run("  {% if true %}\n  x\n  {% endif %}\n  y\n", {}), (0, "  x\n  y", ""))
# tojson is json.dumps(ensure_ascii=False): no HTML escaping, unicode kept, ", " separators.
check("tojson", run("{{ x|tojson }}", {"x": {"a": "<é&'>", "b": [1, 2]}}),
      (0, '{"a": "<é&\'>", "b": [1, 2]}', ""))
check("tojson indent", run("{{ x|tojson(indent=2) }}", {"x": {"a": [1]}}), (0, '{\n  "a": [\n    1\n  ]\n}', ""))
# strftime_now formats the context's fixed date.
check("strftime_now", run("{{ strftime_now('%d %b %Y') }}", {"now": "2024-07-26"}), (0, "26 Jul 2024", ""))
# loopcontrols is enabled.
check("break", run("{% for i in range(5) %}{% if i == 2 %}{% break %}{% endif %}{{ i }}{% endfor %}", {}),
      (0, "01", ""))
# raise_exception makes the renderer fail with the template's message.
code, out, err = run("{{ raise_exception('no system role') }}", {})
check("raise_exception", (code, out, "no system role" in err), (1, "", True))
# The sandbox is immutable: lists cannot be changed in place.
code, out, err = run("{% set l = [1] %}{{ l.append(2) }}", {})
check("immutable sandbox", code, 1)

# Real templates, where present: outputs written out by hand from each model card's format.
templates = os.path.join(TESTDATA, "chat-templates")
if os.path.isdir(templates):
    def real(name):
        with open(os.path.join(templates, name + ".jinja"), encoding="utf-8") as f:
            return f.read()

    conv = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
            "add_generation_prompt": True, "bos_token": "<s>", "eos_token": "</s>"}
    check("phi-3.5", run(real("microsoft-Phi-3.5-mini-instruct"), conv),
          (0, "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\n", ""))
    check("qwen2.5", run(real("Qwen-Qwen2.5-7B-Instruct"), conv),
          (0, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", ""))
    check("llama-3.1", run(real("meta-llama-Llama-3.1-8B-Instruct"), conv),
          (0, "<s><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
              "Today Date: 26 Jul 2024\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
              "Hi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", ""))
    code, out, err = run(real("google-gemma-2-2b-it"), conv)
    check("gemma rejects system", (code, "System role not supported" in err), (1, True))
else:
    print(f"note: {templates} absent; real-template checks skipped")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
