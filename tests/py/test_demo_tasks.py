"""The demo model's data tools against properties that must hold: the generator
reproduces the committed held-out sets from its seed, corrections mark exactly the
wrong result and recheck to the right one (both recheck forms), the place-value
recheck adds up for every step the generator can produce, wait_report judges
hand-written completions as a reader would, and the continued training's rows and
loss masks are what the model card says."""
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("ENTROPIX_SOURCE_DIR", os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tools", "demo_model"))
from reference.checks import Checks  # noqa: E402
from bpe import Tokenizer  # noqa: E402
import examples  # noqa: E402
import tasks  # noqa: E402
import wait_report  # noqa: E402

check = Checks("test_demo_tasks")


def arithmetic_ok(x, op, y, z):
    return tasks.value(x, op, y) == z


# Every step the generator makes: operands and results up to 200, multipliers 2..5.
bad = []
for a in range(0, 201):
    for op, bs in (("+", range(1, 41)), ("-", range(1, 41)), ("*", range(2, 13))):
        for b in bs:
            if op == "-" and b >= a:
                continue
            steps = tasks.split_step(a, op, b)
            if steps[-1][3] != tasks.value(a, op, b) or not all(arithmetic_ok(*s) for s in steps) \
                    or any(y <= 0 for _, _, y, _ in steps) or len(steps) > 3:
                bad.append((a, op, b, steps))
check(not bad, f"place-value rechecks add up and end with the step's result ({bad[:2]})")
check(tasks.recheck_text(62, "-", 24) == " Wait, 2 - 4 = -2. 60 - 20 = 40. 40 - 2 = 38.",
      "62 - 24 is rechecked as units, tens, then the two together")
check(tasks.recheck_text(13, "*", 4) == " Wait, 10 * 4 = 40. 3 * 4 = 12. 40 + 12 = 52.",
      "13 * 4 is rechecked as tens times 4 plus units times 4")
check(tasks.split_step(40, "+", 20) == [(40, "+", 20, 60)], "a step of whole tens stays one step")

rng = random.Random(5)
for recheck in tasks.RECHECKS:
    ok_spans = ok_after = True
    for _ in range(300):
        pb = tasks.make_problem(rng, rng.choice([1, 2, 3]), rng.choice([0, 1, 2]))
        text, spans = tasks.add_correction(rng, pb, recheck=recheck)
        (s, e), = spans
        wrong = int(text[s:e])
        before = text[:s]
        head = wait_report.last_equation(before + "0")  # the equation the wrong result belongs to
        a, op, b = int(head[0]), head[1], int(head[2])
        ok_spans &= wrong != tasks.value(a, op, b) and text[e] == "." and text[e + 1:].startswith(" Wait,")
        rec, = wait_report.analyse(text)
        ok_after &= rec["before_wrong"] and rec["after_right"]
        ok_after &= text.endswith(f" The answer is {pb['answer']}.")
    check(ok_spans, f"{recheck}: the wrong span is a wrong result right before the marker")
    check(ok_after, f"{recheck}: wait_report finds each correction wrong before and right after")
    confirm, spans = tasks.add_correction(rng, tasks.make_problem(rng, 2, 1), confirm=True, recheck=recheck)
    rec, = wait_report.analyse(confirm)
    check(not spans and not rec["before_wrong"] and rec["after_right"], f"{recheck}: a confirming recheck")

cases = [  # text, (before_wrong, after_right)
    (" 13 + 8 = 31. Wait, 13 + 8 = 21. 21 - 1 = 20.", (True, True)),
    (" 13 + 8 = 31. Wait, 13 + 8 = 31. 31 - 1 = 30.", (True, False)),
    (" 13 + 8 = 31. Wait, 3 + 8 = 11. 10 + 11 = 21. 21 - 1 = 20.", (True, True)),
    (" 13 + 8 = 31. Wait, 3 + 8 = 11. 10 + 11 = 31. 31 - 1 = 30.", (True, False)),
    (" 13 + 8 = 21. Wait, 3 + 8 = 11. 10 + 11 = 21.", (False, True)),
    (" 13 + 8 = 31. Wait, The answer is 21.", (True, False)),
]
for text, want in cases:
    rec, = wait_report.analyse(text)
    check((rec["before_wrong"], rec["after_right"]) == want, f"wait_report on {text!r}: {want}")

# The continued training (train.py --decisions-only) trains only the decision after
# each step and the recheck after the marker, never a first attempt or the prompt.
tok = Tokenizer.load(os.path.join(ROOT, "models", "demo", "tokenizer.json"))


def trained_pieces(row):
    ids, mask = examples.encode_example(tok, row, decisions_only=True)
    n_prompt = len(tok.encode(row["prompt"], bos=True))
    pieces = ["<eos>" if i == tok.eos else tok.decode([i]) for i, m in zip(ids, mask) if m]
    return pieces, any(mask[:n_prompt])


got, in_prompt = trained_pieces({"prompt": "Q: x\nA:", "wrong_spans": [[11, 13]],
                                 "completion": " 13 + 8 = 31. Wait, 13 + 8 = 21. 21 - 1 = 20. The answer is 20."})
check(got == [" Wait", ",", " ", "1", "3", " +", " ", "8", " =", " ", "2", "1", ".", " ", " The", "<eos>"]
      and not in_prompt, f"decisions-only trains the marker, the recheck and the later decisions ({got})")
got, in_prompt = trained_pieces({"prompt": "Q: x\nA:", "completion": " 13 + 8 = 21. 21 - 1 = 20. The answer is 20."})
check(got == [" ", " The", "<eos>"] and not in_prompt, f"decisions-only trains only the decisions of a plain row ({got})")

# The committed rows of the continued training: every marker follows the model's
# wrong step (its result, or the whole equation when the model took the wrong
# operands or operator), masked out of the loss, and the recheck after it is right.
def correction_ok(r):
    comp = r["completion"]
    at = comp.index(wait_report.MARKER)
    before = list(wait_report.EQUATION.finditer(comp[:at]))[-1]
    after = wait_report.EQUATION.search(comp, at)
    return comp.count(wait_report.MARKER) == 1 and len(r["wrong_spans"]) == 1 \
        and r["wrong_spans"][0][1] == before.end() and before.start() <= r["wrong_spans"][0][0] \
        and wait_report.is_right(after.groups()) and before.groups() != after.groups()


with gzip.open(os.path.join(ROOT, "models", "demo", "training", "finetune.jsonl.gz"), "rt") as f:
    rows = [json.loads(line) for line in f]
marked = [r for r in rows if wait_report.MARKER in r["completion"]]
bad = [r["completion"] for r in marked if not correction_ok(r)]
plain_wrong = [r["completion"] for r in rows if wait_report.MARKER not in r["completion"]
               and any(not wait_report.is_right(e) for e in wait_report.EQUATION.findall(r["completion"]))]
check((len(rows), len(marked)) == (25324, 5324) and not bad and not plain_wrong,
      f"finetune rows: {len(marked)} of {len(rows)} corrected; bad {bad[:2]}; wrong plain rows {plain_wrong[:2]}")

# The committed held-out sets come out of the generator again, byte for byte.
with tempfile.TemporaryDirectory() as tmp:
    run = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "demo_model", "tasks.py"), "--n-train", "300",
                          "--data-dir", os.path.join(tmp, "data"), "--work-dir", tmp],
                         capture_output=True, text=True)
    check(run.returncode == 0, f"tasks.py runs ({run.stderr.strip()[-200:]})")
    for name in ("test-in.jsonl", "test-hard.jsonl", "calibration.txt"):
        with open(os.path.join(tmp, "data", name), "rb") as f:
            made = f.read()
        with open(os.path.join(ROOT, "data", "tasks", name), "rb") as f:
            committed = f.read()
        check(made == committed, f"data/tasks/{name} is what the generator writes from its seed")
    with open(os.path.join(tmp, "train.jsonl")) as f:
        train = [json.loads(line) for line in f]
    with open(os.path.join(ROOT, "data", "tasks", "test-in.jsonl")) as f:
        held = {tasks.normalise(json.loads(line)["prompt"]) for line in f}
    check(not any(tasks.normalise(r["prompt"]) in held for r in train), "training problems are not held-out ones")

sys.exit(check.status())
