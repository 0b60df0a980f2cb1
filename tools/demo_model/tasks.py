"""Seeded generator of multi-step arithmetic word problems with a worked chain of thought.

A problem is a prompt "Q: <story> <question>\nA:" and a completion
" 23 + 18 = 41. 41 - 9 = 32. The answer is 32." (then the end-of-text token).
Each step is one sentence of the story and one equation of the chain:
addition, subtraction (never below zero) or small multiplication.
Difficulty: number of steps (1 to 4) and size of the numbers.

Splits never share a problem: the held-out sets are drawn first and every later
problem whose normalised prompt (lower case, single spaces) was already drawn is
skipped. Training uses 1 to 3 steps only; test-hard holds 4-step problems.

Some training examples carry a correction: one step is first written with a wrong
result, then " Wait," and the step again, right (" 62 - 24 = 48. Wait, 62 - 24 =
38."); with --recheck place-value the step is redone by place value instead,
ending with the right result (" 62 - 24 = 48. Wait, 2 - 4 = -2. 60 - 20 = 40. 40 -
2 = 38."). `wrong_spans` gives the character spans of the wrong results so the trainer
can mask them out of the loss. With --confirm-rate, a few more carry the same
recheck after a right step, which it confirms.

Usage:
  /usr/bin/python3 tools/demo_model/tasks.py            # writes data/tasks/* and work/train.jsonl, work/val.jsonl
  /usr/bin/python3 tools/demo_model/tasks.py --n-train 200000
"""
import argparse
import json
import os
import random
import re

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

NAMES = [  # (name, pronoun)
    ("Mia", "she"), ("Leo", "he"), ("Ava", "she"), ("Noah", "he"), ("Emma", "she"),
    ("Liam", "he"), ("Zoe", "she"), ("Omar", "he"), ("Lily", "she"), ("Sam", "he"),
    ("Nora", "she"), ("Ben", "he"), ("Ella", "she"), ("Jack", "he"), ("Ruby", "she"),
    ("Max", "he"), ("Ivy", "she"), ("Tom", "he"), ("Grace", "she"), ("Luca", "he"),
    ("Anna", "she"), ("Ravi", "he"), ("Sara", "she"), ("Kai", "he"), ("Maya", "she"),
    ("Finn", "he"), ("Chloe", "she"), ("Hugo", "he"), ("Lucy", "she"), ("Eli", "he"),
    ("Nina", "she"), ("Owen", "he"), ("Hana", "she"), ("Theo", "he"), ("Rosa", "she"),
    ("Adam", "he"), ("Jade", "she"), ("Marco", "he"), ("Amir", "he"), ("Lena", "she"),
]
OBJECTS = [
    "shells", "apples", "marbles", "stickers", "coins", "books", "pencils", "cookies",
    "cards", "stamps", "buttons", "beads", "flowers", "eggs", "balloons", "rocks",
    "crayons", "toy cars", "candies", "feathers", "ribbons", "stones", "nuts", "cherries",
    "pens", "plums", "leaves", "boxes", "tickets", "blocks",
]
MARKER = " Wait,"
CONTAINERS = ["bags", "boxes", "jars", "baskets", "packs", "cups", "trays", "piles"]

START = [
    "{N} has {a} {o}.",
    "{N} had {a} {o}.",
    "{N} starts with {a} {o}.",
    "{N} owns {a} {o}.",
    "{N} collected {a} {o}.",
    "There are {a} {o} in {N}'s room.",
]
START_MUL = [  # first step is a multiplication k * c
    "{N} has {k} {c} with {b} {o} in each.",
    "{N} buys {k} {c} of {o}. Each one holds {b} {o}.",
    "{N} fills {k} {c} with {b} {o} each.",
]
ADD = [
    "{P} finds {b} more.",
    "{P} buys {b} more.",
    "{P} gets {b} more from {M}.",
    "{M} gives {p_obj} {b} more.",
    "Then {p} picks up {b} more.",
    "Later {p} gets {b} more {o}.",
    "{P} wins {b} more {o}.",
]
SUB = [
    "{P} gives {b} to {M}.",
    "{P} loses {b}.",
    "{P} gives away {b} {o}.",
    "{P} sells {b} of them.",
    "Then {p} gives {b} to {M}.",
    "{M} takes {b} of them.",
    "{P} drops {b} {o}.",
]
MUL = [
    "Then {p} gets enough to have {k} times as many.",
    "{P} ends up with {k} times as many {o}.",
    "The number of {o} grows to {k} times as many.",
]
MUL_WORD = {2: ["{P} doubles {p_pos} {o}.", "The number of {o} doubles."],
            3: ["{P} triples {p_pos} {o}.", "The number of {o} triples."]}
QUESTION = [
    "How many {o} does {N} have?",
    "How many {o} does {N} have now?",
    "How many {o} does {N} have in the end?",
    "How many {o} are there now?",
]
PRONOUN = {"she": ("she", "her", "her"), "he": ("he", "him", "his")}


def normalise(prompt):
    return re.sub(r"\s+", " ", prompt.strip().lower())


def ranges(level):
    """(max start value, max operand of + and -, max result) for a number-size level."""
    return {0: (20, 9, 40), 1: (50, 20, 99), 2: (99, 40, 200)}[level]


def make_problem(rng, steps, level):
    """One problem: dict(prompt, answer, steps, completion, level, ops)."""
    name, pr = rng.choice(NAMES)
    other, _ = rng.choice([n for n in NAMES if n[0] != name])
    obj = rng.choice(OBJECTS)
    p, p_obj, p_pos = PRONOUN[pr]
    max_start, max_op, max_res = ranges(level)
    fill = dict(N=name, M=other, o=obj, p=p, P=p.capitalize(), p_obj=p_obj, p_pos=p_pos)

    sentences, chain = [], []
    if rng.random() < 0.2:
        k, b = rng.randint(2, 5), rng.randint(2, min(12, max_start // 2))
        sentences.append(rng.choice(START_MUL).format(k=k, b=b, c=rng.choice(CONTAINERS), **fill))
        x = k * b
        chain.append((k, "*", b, x))
    else:
        x = rng.randint(2 if level == 0 else 10, max_start)
        sentences.append(rng.choice(START).format(a=x, **fill))
    while len(chain) < steps:
        kinds = ["+", "-"]
        if x <= max_res // 2 and x <= 40:
            kinds.append("*")
        if x < 2:
            kinds = ["+"]
        op = rng.choice(kinds)
        if op == "+":
            b = rng.randint(1, min(max_op, max(1, max_res - x)))
            if x + b > max_res:
                op = "-"
            else:
                sentences.append(rng.choice(ADD).format(b=b, **fill))
                chain.append((x, "+", b, x + b))
                x += b
                continue
        if op == "-":
            b = rng.randint(1, min(max_op, x - 1))
            sentences.append(rng.choice(SUB).format(b=b, **fill))
            chain.append((x, "-", b, x - b))
            x -= b
            continue
        k = rng.randint(2, 5) if x <= 20 else rng.choice([2, 3])
        if x * k > max_res:
            k = 2
        pool = MUL + (MUL_WORD.get(k, []) * 2)
        sentences.append(rng.choice(pool).format(k=k, **fill))
        chain.append((x, "*", k, x * k))
        x *= k
    sentences.append(rng.choice(QUESTION).format(**fill))
    prompt = "Q: " + " ".join(sentences) + "\nA:"
    completion = "".join(f" {a} {op} {b} = {c}." for a, op, b, c in chain) + f" The answer is {x}."
    return dict(prompt=prompt, answer=str(x), steps=steps, completion=completion,
                level=level, chain=chain)


def split_step(a, op, b):
    """The step a op b = c redone by place value (the recheck of --recheck place-value).

    Redoing the same sum gives the small model the same wrong result (its errors
    are mostly in the tens digit, a carry or borrow it missed). Split by place
    value, the carry becomes a step of its own: the units alone (a one-digit
    fact, negative when a borrow is due), the whole tens alone, then the two put
    together, which never carries into the tens again by surprise:
      62 - 24 -> 2 - 4 = -2, 60 - 20 = 40, 40 - 2 = 38
      47 + 18 -> 7 + 8 = 15, 40 + 10 = 50, 50 + 15 = 65
      65 - 6  -> 5 - 6 = -1, 60 - 1 = 59
      13 * 4  -> 10 * 4 = 40, 3 * 4 = 12, 40 + 12 = 52
    Returns [(x, op, y, z), ...] (z may be negative); the last z is a op b."""
    if op == "*":
        t, u = a - a % 10, a % 10
        if t == 0 or u == 0:
            return [(a, op, b, a * b)]
        return [(t, "*", b, t * b), (u, "*", b, u * b), (t * b, "+", u * b, a * b)]
    sign = 1 if op == "+" else -1
    ta, ua, tb, ub = a - a % 10, a % 10, b - b % 10, b % 10
    units = ua + sign * ub
    if ta == 0 or ub == 0 or (tb == 0 and 0 in (ua, units)):
        return [(a, op, b, a + sign * b)]  # one digit, whole tens, or units that cancel
    steps = [(ua, op, ub, units)]
    tens = ta + sign * tb
    if tb:
        steps.append((ta, op, tb, tens))
    if units:
        steps.append((tens, "+" if units > 0 else "-", abs(units), tens + units))
    return steps


def recheck_text(a, op, b):
    """" Wait," and the place-value recheck of a op b, e.g. " Wait, 2 - 4 = -2. 60 - 20 = 40. 40 - 2 = 38."."""
    return " Wait," + "".join(f" {x} {o} {y} = {z}." for x, o, y, z in split_step(a, op, b))


# The two forms of the recheck after " Wait,", and the offsets of the wrong results
# that come with them. "repeat" writes the step again with its right result, with
# results off by 1, 2 or 10. "place-value" writes split_step's steps, with offsets
# shaped like the demo model's own mistakes (60% of its wrong steps are off by +10
# or -10 in the tens digit).
RECHECKS = ("repeat", "place-value")
WRONG_OFFSETS = {"repeat": [-10, -2, -1, 1, 1, 2, 10],
                 "place-value": [10, 10, 10, 10, -10, -10, -1, 1, 2, -2, 20, -20]}


def recheck_of(recheck, a, op, b):
    if recheck == "repeat":
        return f" Wait, {a} {op} {b} = {value(a, op, b)}."
    return recheck_text(a, op, b)


def value(a, op, b):
    return {"+": a + b, "-": a - b, "*": a * b}[op]


def add_correction(rng, pb, confirm=False, recheck="repeat"):
    """Rewrite the completion with one step rechecked after " Wait,".

    By default the step is first written with a wrong result, which the recheck
    corrects; with confirm=True the step is right and the recheck confirms it, so
    that the marker does not always mean "change it" (the entropix decoder inserts
    it after right steps too). Returns (completion, wrong_spans): character spans
    of the wrong results."""
    chain = pb["chain"]
    i = rng.randrange(len(chain))
    parts, spans = [], []
    pos = 0
    for j, (a, op, b, c) in enumerate(chain):
        if j == i:
            head = f" {a} {op} {b} = "
            if confirm:
                first = c
            else:
                first = c + rng.choice(WRONG_OFFSETS[recheck])
                if first < 0 or first == c:
                    first = c + 1
                start = pos + len(head)
                spans.append((start, start + len(str(first))))
            seg = f"{head}{first}." + recheck_of(recheck, a, op, b)
        else:
            seg = f" {a} {op} {b} = {c}."
        parts.append(seg)
        pos += len(seg)
    parts.append(f" The answer is {pb['answer']}.")
    return "".join(parts), spans


def public(pb):
    return {"prompt": pb["prompt"], "answer": pb["answer"], "steps": pb["steps"],
            "completion": pb["completion"]}


class Drawer:
    """Draws problems that were never drawn before (by normalised prompt)."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.seen = set()

    def draw(self, steps_choices, levels=(0, 1, 2)):
        while True:
            pb = make_problem(self.rng, self.rng.choice(steps_choices), self.rng.choice(levels))
            key = normalise(pb["prompt"])
            if key not in self.seen:
                self.seen.add(key)
                return pb


def write_jsonl(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--n-train", type=int, default=200000)
    ap.add_argument("--n-val", type=int, default=500)
    ap.add_argument("--correction-rate", type=float, default=0.08)
    ap.add_argument("--recheck", choices=RECHECKS, default="repeat",
                    help="form of the recheck after the marker (see split_step)")
    ap.add_argument("--confirm-rate", type=float, default=0.0,
                    help="share of training rows whose recheck confirms a right step")
    ap.add_argument("--data-dir", default=os.path.join(ROOT, "data", "tasks"))
    ap.add_argument("--work-dir", default=os.path.join(HERE, "work"))
    args = ap.parse_args()

    d = Drawer(args.seed)
    test_in = [d.draw([1, 2, 3]) for _ in range(500)]
    test_hard = [d.draw([4]) for _ in range(300)]
    val = [d.draw([1, 2, 3]) for _ in range(args.n_val)]
    train = [d.draw([1, 2, 3]) for _ in range(args.n_train)]

    crng = random.Random(args.seed + 1)
    train_rows = []
    for pb in train:
        row = public(pb)
        row["wrong_spans"] = []
        draw = crng.random()
        if draw < args.correction_rate:
            row["completion"], row["wrong_spans"] = add_correction(crng, pb, recheck=args.recheck)
        elif draw < args.correction_rate + args.confirm_rate:
            row["completion"], _ = add_correction(crng, pb, confirm=True, recheck=args.recheck)
        train_rows.append(row)

    write_jsonl(os.path.join(args.data_dir, "test-in.jsonl"), map(public, test_in))
    write_jsonl(os.path.join(args.data_dir, "test-hard.jsonl"), map(public, test_hard))
    write_jsonl(os.path.join(args.work_dir, "val.jsonl"), map(public, val))
    write_jsonl(os.path.join(args.work_dir, "train.jsonl"), train_rows)
    # calibration text: 300 training-style problems with clean solutions, blank line between
    with open(os.path.join(args.data_dir, "calibration.txt"), "w") as f:
        f.write("\n\n".join(pb["prompt"] + pb["completion"] for pb in train[:300]) + "\n")
    n_corr = sum(1 for r in train_rows if r["wrong_spans"])
    n_conf = sum(1 for r in train_rows if MARKER in r["completion"] and not r["wrong_spans"])
    print(f"test-in 500, test-hard 300, val {len(val)}, train {len(train_rows)} "
          f"({n_corr} with a correction, {n_conf} with a confirming recheck)")


if __name__ == "__main__":
    main()
