"""Measures a checkpoint in PyTorch: greedy accuracy, and how the model uses the
thinking marker when it samples (temperature 1 by default, many samples per problem).

The engine (`entropix eval` and wait_report.py) gives the numbers the model card
reports; this is the quick way to compare many training variants, on a GPU if one
is there, before exporting any of them.

  /usr/bin/python3 tools/demo_model/sample_eval.py --ckpt work/ft5/ckpt.pt --samples 12 --device cuda
"""
import argparse
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bpe import Tokenizer  # noqa: E402
from evaluate import load_model  # noqa: E402
from tasks import MARKER  # noqa: E402
from train import final_answer, greedy_accuracy, load_rows  # noqa: E402
from wait_report import analyse  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))


def measure(model, tok, rows, samples, temperature, seed, max_new):
    dev = model.tok_embeddings.weight.device
    per_steps, greedy = greedy_accuracy(model, tok, rows, max_new)
    model.eval()
    prompts = [tok.encode(r["prompt"], bos=True) for r in rows]
    g = torch.Generator(device=dev)
    g.manual_seed(seed)
    sampled = [tok.decode([t for t in o if t != tok.eos])
               for o in model.generate(prompts * samples, max_new, tok.eos, temperature, g)]
    recs = [rec for t in sampled for rec in analyse(t)]
    wrong = [r for r in recs if r["before_wrong"]]
    right = [r for r in recs if not r["before_wrong"]]
    corrected = sum(r["after_right"] for r in wrong)
    return {
        "greedy_accuracy": sum(c for c, _ in per_steps.values()) / len(rows),
        "greedy_per_steps": {k: round(c / n, 3) for k, (c, n) in sorted(per_steps.items())},
        "greedy_with_marker": sum(MARKER in t for t in greedy),
        "sampled": len(sampled),
        "sampled_accuracy": sum(final_answer(t) == r["answer"] for t, r in zip(sampled, rows * samples)) / len(sampled),
        "with_marker": sum(MARKER in t for t in sampled),
        "markers_after_a_wrong_step": len(wrong),
        "corrected": corrected,
        "corrected_share": round(corrected / max(len(wrong), 1), 3),
        "markers_after_a_right_step": len(right),
        "kept_right": sum(r["after_right"] for r in right),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--tokenizer", default=os.path.join(ROOT, "models", "demo", "tokenizer.json"))
    ap.add_argument("--sets", default=",".join([os.path.join(HERE, "work", "val.jsonl"),
                                                os.path.join(ROOT, "data", "tasks", "test-in.jsonl")]))
    ap.add_argument("--samples", type=int, default=6, help="samples per problem")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-new", type=int, default=128)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tok = Tokenizer.load(args.tokenizer)
    model, _ = load_model(args.ckpt)
    model.to(args.device)
    results = {"ckpt": args.ckpt, "temperature": args.temperature, "samples": args.samples}
    for path in args.sets.split(","):
        t0 = time.time()
        res = measure(model, tok, load_rows(path), args.samples, args.temperature, args.seed, args.max_new)
        res["seconds"] = round(time.time() - t0, 1)
        results[os.path.basename(path)] = res
    print(json.dumps(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
