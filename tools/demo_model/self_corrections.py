"""Correction examples made from the demo model's own mistakes.

The generator's corrections (tasks.py) put an artificial error in a step (its
result off by 1, 2 or 10) and follow it with " Wait," and the right step. A small
model trained on those learns what to do after such an error but not to notice
the errors it makes itself, which look different. This tool takes the model's
own completions of training problems (the results.json of `entropix eval -o DIR`
on a task file that carries each problem's reference `completion`), finds the
first step where a completion leaves the reference chain, and writes a training
row that keeps the model's wrong step, then " Wait," and the reference solution
from that step on:

  model:     " 13 + 8 = 31. 31 - 1 = 30. The answer is 30."
  reference: " 13 + 8 = 21. 21 - 1 = 20. The answer is 20."
  row:       " 13 + 8 = 31. Wait, 13 + 8 = 21. 21 - 1 = 20. The answer is 20."

With --recheck place-value the step is redone by place value after the marker
(tasks.split_step): " 13 + 8 = 31. Wait, 3 + 8 = 11. 10 + 11 = 21. 21 - 1 = 20. ...".

The wrong part (the result, or the whole equation when the operands or the
operator differ) is listed in `wrong_spans`, so train.py masks it out of the
loss: the model is taught to write " Wait," and the fix after its own kind of
error, never the error itself. Completions that are right, or that go wrong
anywhere but in an equation, give no row.

The output mixes these rows with ordinary rows of the training file (with
--plain-clean only those without one of the generator's corrections). The shipped
model was made from them with train.py --init ... --decisions-only, which trains
only the decision after each step (" Wait," or not) and the recheck, never the
first attempt at a step (models/demo/README.md). With --confirmations RATE that
share of the ordinary rows also gets a recheck that confirms a right step
(" 13 + 8 = 21. Wait, 13 + 8 = 21. ..."), fully trained (not used for the shipped
model; models/demo/README.md, "Further variants").

  # training problems without a generator correction, for the model to solve
  /usr/bin/python3 tools/demo_model/self_corrections.py pool --train tools/demo_model/work/train.jsonl \\
      --skip 150000 --n 60000 -o tools/demo_model/work/pool.jsonl
  build/entropix eval -m BASE.gguf --tasks tools/demo_model/work/pool.jsonl ... -o A
  /usr/bin/python3 tools/demo_model/self_corrections.py rows --tasks tools/demo_model/work/pool.jsonl \\
      --results A/results.json [B/results.json ...] --max-corrections 5000 \\
      --clean tools/demo_model/work/train.jsonl --n-clean 20000 --plain-clean -o tools/demo_model/work/own.jsonl

(The shipped model's rows, models/demo/training/finetune.jsonl.gz, are 5,324
corrections and 20,000 plain rows.)
"""
import argparse
import json
import os
import random
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tasks import RECHECKS, recheck_of  # noqa: E402

EQUATION = re.compile(r"(-?\d+) ([-+*]) (\d+) = (-?\d+)")


def correction_row(task, text, recheck="repeat"):
    """A training row for the first wrong equation in `text`, or None."""
    ref = task["completion"]
    ref_eqs = list(EQUATION.finditer(ref))
    for i, m in enumerate(EQUATION.finditer(text)):
        if i >= len(ref_eqs):
            return None  # more steps than the reference: not an equation error
        r = ref_eqs[i]
        if m.group(0) == r.group(0):
            continue
        if text[:m.start()] != ref[:r.start()]:
            return None  # the text left the reference chain before this equation
        same_head = m.groups()[:3] == r.groups()[:3]
        wrong_from = m.start(4) if same_head else m.start()
        a, op, b = int(r.group(1)), r.group(2), int(r.group(3))
        completion = text[:m.end()] + "." + recheck_of(recheck, a, op, b) + ref[r.end() + 1:]
        return {"prompt": task["prompt"], "answer": task["answer"], "steps": task["steps"],
                "completion": completion, "wrong_spans": [[wrong_from, m.end()]],
                "source": "self"}
    return None


def confirmation_row(rng, row, recheck="repeat"):
    """`row` with one of its right steps rechecked and confirmed after the marker."""
    comp = row["completion"]
    eqs = list(EQUATION.finditer(comp))
    if not eqs or row.get("wrong_spans"):
        return row
    m = eqs[rng.randrange(len(eqs))]
    out = dict(row)
    a, op, b = int(m.group(1)), m.group(2), int(m.group(3))
    out["completion"] = comp[:m.end() + 1] + recheck_of(recheck, a, op, b) + comp[m.end() + 1:]
    out["source"] = "confirmation"
    return out


def write_pool(train_path, skip, n, out_path):
    """The first `n` rows after `skip` of the training file that carry no correction."""
    pool = []
    with open(train_path) as f:
        for k, line in enumerate(f):
            if k < skip:
                continue
            row = json.loads(line)
            if not row.get("wrong_spans"):
                pool.append(line)
            if len(pool) == n:
                break
    with open(out_path, "w") as f:
        f.writelines(pool)
    print(f"{len(pool)} problems -> {out_path}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("pool", help="training problems without a correction, for the model to solve")
    pp.add_argument("--train", required=True, help="the training file (tasks.py's train.jsonl)")
    pp.add_argument("--skip", type=int, default=0, help="start after this many rows")
    pp.add_argument("--n", type=int, default=60000)
    pp.add_argument("-o", "--output", required=True)
    rp = sub.add_parser("rows", help="correction rows from the model's completions, mixed with ordinary rows")
    rp.add_argument("--tasks", required=True, help="the task file the results were made from (with completion)")
    rp.add_argument("--results", nargs="*", default=[], help="results.json files of entropix eval")
    rp.add_argument("--clean", required=True, help="training rows to mix in (train.jsonl)")
    rp.add_argument("--n-clean", type=int, default=60000)
    rp.add_argument("--max-corrections", type=int, default=0,
                    help="keep this many correction rows at most, drawn at random (0 = all)")
    rp.add_argument("--plain-clean", action="store_true",
                    help="leave out ordinary rows that carry one of the generator's corrections")
    rp.add_argument("--confirmations", type=float, default=0.0, help="share of ordinary rows given a confirming recheck")
    rp.add_argument("--recheck", choices=RECHECKS, default="repeat", help="form of the recheck (tasks.py)")
    rp.add_argument("--seed", type=int, default=0)
    rp.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    if args.cmd == "pool":
        write_pool(args.train, args.skip, args.n, args.output)
        return

    with open(args.tasks) as f:
        tasks = [json.loads(line) for line in f]
    rows, seen, n_texts, n_wrong = [], set(), 0, 0
    for path in args.results:
        with open(path) as f:
            results = json.load(f)
        for strategy in results["strategies"]:
            for t in strategy["tasks"]:
                n_texts += 1
                if t["correct"]:
                    continue
                n_wrong += 1
                task = tasks[int(t["id"]) - 1]
                row = correction_row(task, t["text"], args.recheck)
                if row and (row["prompt"], row["completion"]) not in seen:
                    seen.add((row["prompt"], row["completion"]))
                    rows.append(row)
    clean = []
    with open(args.clean) as f:
        for line in f:
            if len(clean) == args.n_clean:
                break
            row = json.loads(line)
            if not (args.plain_clean and row.get("wrong_spans")):
                clean.append(row)
    rng = random.Random(args.seed)
    rng.shuffle(rows)
    if args.max_corrections:
        rows = rows[:args.max_corrections]
    clean = [confirmation_row(rng, r, args.recheck) if rng.random() < args.confirmations else r for r in clean]
    n_conf = sum(r.get("source") == "confirmation" for r in clean)
    mixed = rows + clean
    rng.shuffle(mixed)
    with open(args.output, "w") as f:
        for r in mixed:
            f.write(json.dumps(r) + "\n")
    print(f"{n_texts} completions, {n_wrong} wrong, {len(rows)} correction rows from them; "
          f"{len(clean)} ordinary rows ({n_conf} with a confirmation); {len(mixed)} written to {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
