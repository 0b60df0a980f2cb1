"""`--logit-bias ID=BIAS` (run and the other commands with the sampling flags): -100
bans a token under every sampler and strategy, +100 forces one, and a malformed
value or an id outside the vocabulary is an error that says so."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import engine_cli  # noqa: E402
from reference.checks import Checks  # noqa: E402

TEST = "test_cli_logit_bias"
check = Checks(TEST)
exe = engine_cli.binary(TEST)
source = os.environ.get("ENTROPIX_SOURCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
model = os.path.join(source, "models", "demo", "demo-q8_0.gguf")
PROMPT = "Q: Mia has 12 apples. She buys 7 more. How many apples does Mia have now?\nA:"


def run(*args):
    proc = subprocess.run([exe, "run", "-m", model, "-p", PROMPT, "-t", "1", "-c", "256", *args],
                          capture_output=True, timeout=300)
    return proc.returncode, proc.stdout.decode("utf-8", errors="replace"), proc.stderr.decode("utf-8", errors="replace")


def traced(*args):
    """(id, piece) of each step of the answer (inserted thinking text has no id)."""
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, "trace.jsonl")
        rc, out, err = run("--trace", trace, *args)
        if rc != 0:
            raise RuntimeError(err)
        with open(trace) as f:
            return [(step["id"], step["piece"]) for step in map(json.loads, f)]


def traced_ids(*args):
    return [i for i, _ in traced(*args)]


# The greedy answer's first token, and what greedy takes when it is banned.
first = traced_ids("--sampler", "greedy", "-n", "4")[0]
banned = traced("--sampler", "greedy", "-n", "4", "--logit-bias", f"{first}=-100")
check(banned[0][0] != first, f"greedy: a banned first token ({first}) is not taken (took {banned[0][0]})")
runner_up, runner_up_piece = banned[0]

for sampler in (["--sampler", "standard", "--temp", "1", "-s", "5"], ["--sampler", "entropix", "-s", "5"]):
    ids = traced_ids(*sampler, "-n", "4", "--logit-bias", f"{first}=-100")
    check(first not in ids, f"{sampler[1]}: the banned token is never drawn ({ids})")
    ids = traced_ids(*sampler, "-n", "3", "--logit-bias", f"{runner_up}=100")
    check(ids == [runner_up] * 3, f"{sampler[1]}: +100 makes token {runner_up} the certain choice ({ids})")

# Repeatable: two bans at once.
ids = traced_ids("--sampler", "greedy", "-n", "4", "--logit-bias", f"{first}=-100", "--logit-bias",
                 f"{runner_up}=-100")
check(ids[0] not in (first, runner_up), f"two --logit-bias flags ban both ({ids})")

# Strategies decode every path with the bias: +100 on a token makes each answer that
# token repeated (cot-decoding's paths start from the k most probable first tokens of
# the biased distribution, and the best is the one that starts with it).
for strategy in ("cot-decoding:3", "self-consistency:3", "best-of-n:2", "entropix-branch"):
    rc, out, err = run("--strategy", strategy, "-n", "4", "-s", "2", "--logit-bias", f"{runner_up}=100")
    check(rc == 0, f"{strategy}: runs with a bias ({rc}): {err.strip()[-200:]!r}")
    answer = out.split("\n")[0]
    check(answer == runner_up_piece * 4, f"{strategy}: the answer is {runner_up_piece!r} four times ({answer!r})")

for bad, needle in (("12", "ID=BIAS"), ("x=1", "ID=BIAS"), ("5=101", "ID=BIAS"), ("5=-1e400", "ID=BIAS"),
                    ("5=high", "ID=BIAS"), ("99999=1", "the vocabulary has ids 0 to")):
    rc, out, err = run("-n", "2", "--logit-bias", bad)
    check(rc == 1 and needle in err, f"--logit-bias {bad}: refused ({rc}), saying {needle!r}: {err.strip()[-200:]!r}")

sys.exit(check.status())
