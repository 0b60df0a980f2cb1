"""How the demo model uses the thinking marker " Wait," in its own completions.

Reads the results.json that `entropix eval -o DIR` writes and, for every
completion that contains " Wait,", looks at the equation just before the marker
and the recheck after it:

  - the step before was wrong: its result is not what its operands give;
  - the model corrected itself: the recheck ends with the step's right result.
    The recheck is the step split into simpler ones (tasks.split_step: " 62 - 24
    = 48. Wait, 62 - 20 = 42. 42 - 2 = 40. 40 - 2 = 38."), so its result is the
    last of that many equations; a recheck that repeats the step whole (" Wait,
    62 - 24 = 38.") is judged by that one equation;
  - and whether the final answer of that completion is correct.

  /usr/bin/python3 tools/demo_model/wait_report.py RESULTS.json [MORE.json ...] [--strategy greedy] [--show 5]

With several results files (the same problems sampled with other seeds, say) the
counts are summed.
"""
import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tasks import MARKER, split_step, value  # noqa: E402

EQUATION = re.compile(r"(-?\d+) ([-+*]) (\d+) = (-?\d+)")


def last_equation(text):
    found = EQUATION.findall(text)
    return tuple(found[-1]) if found else None


def recheck_result(before, text):
    """The equation that ends the recheck in `text` (what follows the marker) of the
    step `before`, or None when the model wrote something else."""
    found = EQUATION.findall(text)
    if not found or before is None:
        return tuple(found[0]) if found else None
    if tuple(found[0][:3]) == tuple(before[:3]):
        return tuple(found[0])  # the step repeated whole
    n = len(split_step(int(before[0]), before[1], int(before[2])))
    return tuple(found[n - 1]) if len(found) >= n else None


def is_right(eq):
    a, op, b, r = eq
    return value(int(a), op, int(b)) == int(r)


def analyse(text):
    """One record per marker in `text`."""
    records = []
    start = 0
    while True:
        at = text.find(MARKER, start)
        if at < 0:
            return records
        before = last_equation(text[:at])
        after = recheck_result(before, text[at + len(MARKER):])
        right_value = before is not None and after is not None and \
            int(after[3]) == value(int(before[0]), before[1], int(before[2]))
        rec = {"before_wrong": before is not None and not is_right(before),
               "after_right": right_value and is_right(after),
               "same_step": before is not None and after is not None and before[:3] == after[:3]}
        records.append(rec)
        start = at + len(MARKER)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+")
    ap.add_argument("--strategy", default="greedy")
    ap.add_argument("--show", type=int, default=3, help="print this many completions with the marker")
    args = ap.parse_args()
    tasks = []
    for path in args.results:
        with open(path) as f:
            results = json.load(f)
        strategies = {s["name"]: s for s in results["strategies"]}
        if args.strategy not in strategies:
            sys.exit(f"no strategy {args.strategy!r} in {path} (have {', '.join(strategies)})")
        tasks += strategies[args.strategy]["tasks"]
    with_marker = [t for t in tasks if MARKER in t["text"]]
    markers = [r for t in with_marker for r in analyse(t["text"])]
    after_wrong = [r for r in markers if r["before_wrong"]]
    corrected = [r for r in after_wrong if r["after_right"]]
    after_right = [r for r in markers if not r["before_wrong"]]
    summary = {
        "strategy": args.strategy,
        "completions": len(tasks),
        "with_marker": len(with_marker),
        "markers": len(markers),
        "markers_after_a_wrong_step": len(after_wrong),
        "corrected": len(corrected),
        "corrected_same_step": sum(r["same_step"] for r in corrected),
        "markers_after_a_right_step": len(after_right),
        "kept_right": sum(r["after_right"] for r in after_right),
        "with_marker_final_correct": sum(t["correct"] for t in with_marker),
    }
    print(json.dumps(summary, indent=1))
    for t in with_marker[:args.show]:
        print(f"  task {t['id']} ({'correct' if t['correct'] else 'wrong'}, expected {t['expected']}): {t['text']!r}")


if __name__ == "__main__":
    main()
