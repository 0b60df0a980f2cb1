"""Whether the demo model corrects its own mistakes once " Wait," is written after them.

The model's use of the marker at a temperature (wait_report.py) mixes two things:
whether it writes the marker after a wrong step, and whether the recheck after it
is right. This measures the second alone, on the hardest case: the steps it gets
wrong under greedy decoding.

  prompts: from a greedy results.json (entropix eval -o DIR) and its task file,
           one task per wrong completion: the prompt, the completion up to and
           including its first wrong step, then " Wait,".
  score:   reads the results.json of a greedy eval of those tasks and counts the
           rechecks that end with the step's right result (wait_report's rule).

  /usr/bin/python3 tools/demo_model/forced_recheck.py prompts RESULTS.json TASKS.jsonl -o FORCED.jsonl
  build/entropix eval -m MODEL --tasks FORCED.jsonl --strategies greedy -n 60 -o DIR
  /usr/bin/python3 tools/demo_model/forced_recheck.py score FORCED.jsonl DIR/results.json
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wait_report import EQUATION, MARKER, analyse, is_right  # noqa: E402


def prompts(results_path, tasks_path, out_path):
    with open(tasks_path) as f:
        tasks = [json.loads(line) for line in f]
    with open(results_path) as f:
        results = json.load(f)
    n = 0
    with open(out_path, "w") as out:
        for t in results["strategies"][0]["tasks"]:
            task = tasks[int(t["id"]) - 1]
            for m in EQUATION.finditer(t["text"]):
                if not is_right(m.groups()):
                    out.write(json.dumps({"prompt": task["prompt"] + t["text"][:m.end()] + "." + MARKER,
                                          "answer": task["answer"]}) + "\n")
                    n += 1
                    break
    print(f"{n} completions with a wrong step -> {out_path}")


def score(forced_path, results_path):
    with open(forced_path) as f:
        forced = [json.loads(line) for line in f]
    with open(results_path) as f:
        results = json.load(f)
    n = right = 0
    for t in results["strategies"][0]["tasks"]:
        completion = forced[int(t["id"]) - 1]["prompt"].split("\nA:", 1)[1]
        records = analyse(completion + t["text"])
        n += 1
        right += records[completion.count(MARKER) - 1]["after_right"]
    print(json.dumps({"forced_rechecks": n, "right": right, "share": round(right / max(n, 1), 3)}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prompts")
    p.add_argument("results")
    p.add_argument("tasks")
    p.add_argument("-o", "--output", required=True)
    s = sub.add_parser("score")
    s.add_argument("forced")
    s.add_argument("results")
    args = ap.parse_args()
    if args.cmd == "prompts":
        prompts(args.results, args.tasks, args.output)
    else:
        score(args.forced, args.results)


if __name__ == "__main__":
    main()
