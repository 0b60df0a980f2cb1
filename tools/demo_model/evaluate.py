"""Greedy accuracy of a demo-model checkpoint on the held-out task sets, per step count (PyTorch).

An answer is correct when the integer after the last "The answer is " in the
greedy completion (stopped at <|endoftext|> or --max-new tokens) equals `answer`.

  /usr/bin/python3 tools/demo_model/evaluate.py --ckpt tools/demo_model/work/run/ckpt.pt
      [--sets data/tasks/test-in.jsonl,data/tasks/test-hard.jsonl] [--json out.json]
"""
import argparse
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from bpe import Tokenizer  # noqa: E402
from model import Config, Transformer  # noqa: E402
from train import fmt_acc, greedy_accuracy, load_rows  # noqa: E402


def load_model(path):
    ck = torch.load(path, map_location="cpu")
    model = Transformer(Config(**ck["config"]))
    model.load_state_dict(ck["model"])
    model.eval()
    return model, ck


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", default=os.path.join(HERE, "work", "run", "ckpt.pt"))
    ap.add_argument("--tokenizer", default=os.path.join(ROOT, "models", "demo", "tokenizer.json"))
    ap.add_argument("--sets", default=",".join(os.path.join(ROOT, "data", "tasks", f)
                                               for f in ("test-in.jsonl", "test-hard.jsonl")))
    ap.add_argument("--max-new", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--show", type=int, default=3, help="print this many completions per set")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tok = Tokenizer.load(args.tokenizer)
    model, ck = load_model(args.ckpt)
    results = {"checkpoint_step": ck["step"]}
    for path in args.sets.split(","):
        rows = load_rows(path)
        t0 = time.time()
        res, texts = greedy_accuracy(model, tok, rows, args.max_new)
        acc, s = fmt_acc(res)
        name = os.path.basename(path)
        wait = sum(" Wait," in t for t in texts)
        print(f"{name}: greedy {s}; {wait} completions contain ' Wait,'; {time.time() - t0:.0f}s")
        for r, t in list(zip(rows, texts))[:args.show]:
            print(f"  {r['prompt']!r}\n   -> {t!r} (answer {r['answer']})")
        results[name] = {"accuracy": acc, "n": len(rows), "with_wait": wait,
                         "per_steps": {str(k): {"correct": c, "total": n, "accuracy": c / n}
                                       for k, (c, n) in sorted(res.items())}}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
