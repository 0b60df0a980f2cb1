"""`entropix bench --json-object | --json-schema FILE [--mask-answer FILE]`, the token
mask's cost, on the demo model: the report holds the vocabulary, the trie and both
passes; the second pass generates the first one's answers again (same seeds, or the
same replayed answer), so every mask it needs was kept and it walks the trie for no
state; the figures add up (the steps asked for, the mask share of a decode step); an
answer the grammar does not allow is refused by name. Speeds themselves are not asserted."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import engine_cli  # noqa: E402
from reference.checks import Checks  # noqa: E402
from server_process import demo_model  # noqa: E402

TEST = "test_bench_mask"
check = Checks(TEST)
exe = engine_cli.binary(TEST)
STEPS = 24


def bench(*args):
    return subprocess.run([exe, "bench", "-m", demo_model(), "-p", "0", "-n", "1", "-r", "1", "-t", "1", "--no-bandwidth",
                           "--mask-gen", str(STEPS), *args], capture_output=True, timeout=300)


def close(a, b):
    return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))


with tempfile.TemporaryDirectory() as tmp:
    schema = os.path.join(tmp, "answer.json")
    with open(schema, "w") as f:
        json.dump({"type": "object", "properties": {"answer": {"type": "integer"}, "unit": {"enum": ["apples", "marbles"]}},
                   "required": ["answer", "unit"], "additionalProperties": False}, f)
    source = os.environ.get("ENTROPIX_SOURCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    order = os.path.join(source, "data", "structured", "answer.json")
    order_schema = os.path.join(source, "data", "structured", "answer.schema.json")
    with open(order, encoding="utf-8") as f:  # `tokenize` adds the BOS, the replayed answer has none
        order_tokens = len(engine_cli.tokenize_ids(exe, demo_model(), f.read().rstrip("\n"))) - 1
    for grammar_args, name, steps in ((["--json-object"], "json_object", STEPS), (["--json-schema", schema], schema, STEPS),
                                      (["--json-schema", order_schema, "--mask-answer", order], order_schema, order_tokens)):
        proc = bench(*grammar_args, "--json")
        check(proc.returncode == 0, f"bench {grammar_args[0]} --json exits 0 "
                                    f"(got {proc.returncode}: {proc.stderr.decode(errors='replace')[-300:]})")
        if proc.returncode != 0:
            continue
        rows = [r for r in json.loads(proc.stdout) if r.get("test") == "mask"]
        check(len(rows) == 1, f"bench {grammar_args[0]} --json has one mask row (got {len(rows)})")
        if len(rows) != 1:
            continue
        m = rows[0]
        cold, warm = m["cold"], m["warm"]
        head = {k: v for k, v in m.items() if k not in ("cold", "warm")}
        check(m["grammar"] == name and m["n_vocab"] > 256 and m["trie_nodes"] > 256 and m["threads"] == 1,
              f"{name}: names the grammar, the vocabulary and its trie ({head})")
        check(steps > 0 and cold["steps"] == steps and warm["steps"] == steps,
              f"{name}: both passes compute {steps} masks (got {cold['steps']}, {warm['steps']})")
        check(cold["states_walked"] > 0 and cold["walked_steps"] > 0, f"{name}: the cold pass walks the trie ({cold})")
        check(warm["states_walked"] == 0 and warm["walked_steps"] == 0 and warm["answers"] == cold["answers"],
              f"{name}: the warm pass replays the same answers, every mask kept ({warm})")
        check(m["decode_step_ms"] > 0 and all(close(p["percent_of_decode_step"],
                                                    100 * p["mask_ms_per_step"] / m["decode_step_ms"]) for p in (cold, warm)),
              f"{name}: the mask share is the mask's ms over the decode step's ({head['decode_step_ms']} ms)")

    proc = bench("--json-object")
    lines = [line for line in proc.stdout.decode().splitlines() if line.startswith("| mask")]
    check(proc.returncode == 0 and len(lines) == 3 and "cold" in lines[1] and "warm" in lines[2]
          and "% of a decode step" in lines[1], f"bench --json-object prints the mask rows in its table (got {lines})")

    not_an_object = os.path.join(tmp, "list.json")
    with open(not_an_object, "w") as f:
        f.write("[1, 2]\n")
    proc = bench("--json-object", "--mask-answer", not_an_object)
    check(proc.returncode != 0 and b"does not match grammar json_object" in proc.stderr,
          f"an answer the grammar does not allow is refused (got {proc.returncode}: {proc.stderr[-200:]})")

    proc = bench("--json-object", "--json-schema", schema)
    check(proc.returncode != 0 and b"--json-object" in proc.stderr and b"--json-schema" in proc.stderr,
          f"--json-object with --json-schema is refused, naming both (got {proc.returncode}: {proc.stderr[-200:]})")

sys.exit(check.status())
