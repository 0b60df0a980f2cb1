"""Structured output end to end, on the demo model, checked with an independent
validator (the `jsonschema` package):

- `entropix run --json-schema` at temperature 1: a fixed schema over 20 seeds gives
  20 answers that parse and validate; random schemas of every supported feature
  (seeded) give answers that all validate when they finish, with each sampler and
  with a strategy that forks (best-of-n);
- `--grammar` with a GBNF file: every answer matches it;
- the server: response_format json_schema (strict) and json_object, and the grammar
  field, validate over several seeds, streamed and not; a schema feature the
  converter lacks and a broken grammar are 400s naming the field."""
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import engine_cli  # noqa: E402
from reference.checks import Checks  # noqa: E402

try:
    import jsonschema  # noqa: F401
except ImportError:
    engine_cli.skip("test_structured_output", "python3-jsonschema is not installed (bash scripts/setup.sh installs it)")

from reference.json_schemas import SchemaMaker, validator  # noqa: E402
from server_process import API_KEY, Server, demo_model  # noqa: E402

TEST = "test_structured_output"
check = Checks(TEST)
exe = engine_cli.binary(TEST)
PROMPT = "Q: Mia has 3 apples and buys 4 more. Describe it as JSON.\nA:"
PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 24},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "birthday": {"type": "string", "format": "date"},
        "tags": {"type": "array", "items": {"enum": ["a", "b", 3, None]}, "maxItems": 3},
        "score": {"type": "number", "minimum": -1, "maximum": 1},
        "ok": {"type": "boolean"},
    },
    "required": ["name", "age", "birthday", "tags", "score", "ok"],
    "additionalProperties": False,
}
started = time.time()
tmp = tempfile.mkdtemp(prefix="entropix-structured-")


def run(args):
    proc = subprocess.run([exe, "run", "-m", demo_model(), "-t", "1", *args], capture_output=True, timeout=300)
    err = proc.stderr.decode(errors="replace")
    finish = re.search(r"finish: (\w+)", err)
    return proc.returncode, proc.stdout.decode(errors="replace").rstrip("\n"), finish.group(1) if finish else None, err


def schema_file(schema, name):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        json.dump(schema, f)
    return path


def valid(schema, text):
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return not list(validator(schema).iter_errors(value))


# ---- the command line ------------------------------------------------------------

person = schema_file(PERSON, "person.json")
good = 0
for seed in range(20):
    rc, text, finish, err = run(["-p", PROMPT, "--json-schema", person, "--sampler", "standard", "--temp", "1",
                                 "-s", str(seed), "-n", "300"])
    ok = rc == 0 and finish == "stop" and valid(PERSON, text)
    good += ok
    if not ok:
        print(f"seed {seed}: status {rc}, finish {finish}: {text[:200]!r} {err[-300:]!r}")
check(good == 20, f"temperature 1, 20 seeds: {good} of 20 answers validate")

for sampler in ("greedy", "entropix"):
    rc, text, finish, _ = run(["-p", PROMPT, "--json-schema", person, "--sampler", sampler, "-n", "300"])
    check(rc == 0 and valid(PERSON, text), f"{sampler} sampler: the answer validates ({text[:80]!r})")
rc, text, finish, err = run(["-p", PROMPT, "--json-schema", person, "--strategy", "best-of-n:3", "--temp", "1",
                             "-s", "5", "-n", "300"])
check(rc == 0 and valid(PERSON, text.strip()), f"best-of-n:3 forks: the chosen answer validates ({text[:80]!r})")

rng = random.Random(2026)
finished = cut = 0
failures = []
for i in range(30):
    schema = SchemaMaker(rng).make()
    path = schema_file(schema, f"random-{i}.json")
    rc, text, finish, err = run(["-p", PROMPT, "--json-schema", path, "--sampler", "standard", "--temp", "1",
                                 "-s", str(i), "-n", "400"])
    if rc != 0:
        failures.append(f"schema {i}: status {rc}: {err[-300:]}")
    elif finish != "stop":
        cut += 1
    elif valid(schema, text):
        finished += 1
    else:
        failures.append(f"schema {i}: {json.dumps(schema)[:300]} -> {text[:300]!r}")
for f in failures:
    print(f)
check(not failures, f"random schemas: every finished answer validates ({finished} did, {cut} were cut at 400 tokens)")
# Strings without maxLength let the small demo model ramble at temperature 1: half must end.
check(finished >= 15, f"random schemas: at least half the answers finish within 400 tokens ({finished} of 30)")

grammar = os.path.join(tmp, "yesno.gbnf")
with open(grammar, "w") as f:
    f.write('root ::= ("yes" | "no") ", because " [a-z ]{1,30} "."\n')
for seed in range(5):
    rc, text, finish, _ = run(["-p", PROMPT, "--grammar", grammar, "--sampler", "standard", "--temp", "1",
                               "-s", str(seed), "-n", "100"])
    check(rc == 0 and re.fullmatch(r"(yes|no), because [a-z ]{1,30}\.", text) is not None,
          f"--grammar, seed {seed}: the answer matches ({text!r})")
rc, _, _, err = run(["-p", PROMPT, "--json-schema", schema_file({"type": "string", "pattern": "a+"}, "p.json")])
check(rc == 1 and "'pattern'" in err, f"an unsupported keyword is named ({err.strip()[-120:]!r})")


# ---- the server ------------------------------------------------------------------

def post(server, path, body, stream=False):
    req = urllib.request.Request(server.url + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            raw = r.read().decode()
            if not stream:
                return r.status, json.loads(raw)
            text = ""
            for line in raw.splitlines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    for c in json.loads(line[6:]).get("choices", []):
                        text += c.get("delta", {}).get("content") or c.get("text") or ""
            return r.status, text
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


server = Server(TEST)
try:
    messages = [{"role": "user", "content": PROMPT}]
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON, "strict": True}}
    for seed in range(5):
        status, out = post(server, "/v1/chat/completions", {"messages": messages, "response_format": fmt,
                                                            "temperature": 1, "seed": seed, "max_tokens": 300})
        text = out["choices"][0]["message"]["content"] if status == 200 else ""
        check(status == 200 and valid(PERSON, text), f"server json_schema, seed {seed}: validates ({text[:80]!r})")
    status, text = post(server, "/v1/chat/completions", {"messages": messages, "response_format": fmt, "stream": True,
                                                         "temperature": 1, "seed": 9, "max_tokens": 300}, stream=True)
    check(status == 200 and valid(PERSON, text), f"server json_schema, streamed: validates ({text[:80]!r})")
    status, out = post(server, "/v1/chat/completions", {"messages": messages, "n": 3, "temperature": 1, "seed": 4,
                                                        "response_format": {"type": "json_object"}, "max_tokens": 200})
    texts = [c["message"]["content"] for c in out["choices"]] if status == 200 else []
    objects = 0
    for t in texts:
        try:
            objects += isinstance(json.loads(t), dict)
        except ValueError:
            pass
    finishes = [c["finish_reason"] for c in out["choices"]] if status == 200 else []
    check(status == 200 and objects == sum(f == "stop" for f in finishes) and objects >= 1,
          f"server json_object, n=3: every finished choice is a JSON object ({texts}, {finishes})")
    status, out = post(server, "/v1/completions", {"prompt": PROMPT, "grammar": 'root ::= "yes" | "no"',
                                                   "temperature": 1, "seed": 1})
    check(status == 200 and out["choices"][0]["text"] in ("yes", "no"), f"server grammar field: {out}")

    bad_schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "string", "pattern": "a"}}}
    status, out = post(server, "/v1/chat/completions", {"messages": messages, "response_format": bad_schema})
    check(status == 400 and out["error"]["param"] == "response_format.json_schema.schema"
          and "'pattern'" in out["error"]["message"], f"unsupported schema feature: 400 naming it ({out})")
    status, out = post(server, "/v1/completions", {"prompt": PROMPT, "grammar": "root ::= undefined-rule"})
    check(status == 400 and out["error"]["param"] == "grammar" and "undefined-rule" in out["error"]["message"],
          f"broken grammar: 400 naming the rule ({out})")
    status, out = post(server, "/v1/chat/completions", {"messages": messages, "response_format": {"type": "xml"}})
    check(status == 400 and out["error"]["param"] == "response_format.type", f"unknown response_format: {out}")
finally:
    check(server.stop() == 0, "the server shuts down cleanly")

elapsed = time.time() - started
print(f"{TEST}: {elapsed:.1f} s")
sys.exit(check.status())
