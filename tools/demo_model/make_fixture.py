"""Writes tests/data/demo/reference.json: what PyTorch computes on the demo model, for the engine's tests.

For 4 fixed prompts: the prompt's token ids (BOS + tokens) from tools/demo_model/bpe.py,
the float32 logits of the last prompt position from PyTorch, and the greedy
continuation (32 tokens, or up to and including <|endoftext|>) as ids and text.

It also reads the exported demo-f32.gguf back with the project's numpy reference
(tests/py/reference) and checks that its logits agree with PyTorch's, which checks
the exporter (tensor names, dimension order, rope pairs, grouped-query heads).

  /usr/bin/python3 tools/demo_model/make_fixture.py --ckpt tools/demo_model/work/run/ckpt.pt
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from bpe import Tokenizer  # noqa: E402
from evaluate import load_model  # noqa: E402
from train import load_rows  # noqa: E402

N_NEW = 32


def fixed_prompts():
    test_in = load_rows(os.path.join(ROOT, "data", "tasks", "test-in.jsonl"))
    test_hard = load_rows(os.path.join(ROOT, "data", "tasks", "test-hard.jsonl"))
    return [
        "Q: Mia has 23 shells. She finds 18 more and gives 9 to Leo. How many shells does Mia have?\nA:",
        test_in[0]["prompt"],
        test_in[1]["prompt"],
        test_hard[0]["prompt"],
    ]


@torch.no_grad()
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", default=os.path.join(HERE, "work", "run", "ckpt.pt"))
    ap.add_argument("--tokenizer", default=os.path.join(ROOT, "models", "demo", "tokenizer.json"))
    ap.add_argument("--gguf", default=os.path.join(ROOT, "models", "demo", "demo-f32.gguf"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "data", "demo", "reference.json"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    tok = Tokenizer.load(args.tokenizer)
    model, ck = load_model(args.ckpt)

    cases = []
    for prompt in fixed_prompts():
        ids = tok.encode(prompt, bos=True)
        logits = model(torch.tensor([ids]))[0, -1].float()
        gen = model.generate_greedy([ids], N_NEW, tok.eos)[0][:N_NEW]
        cases.append({
            "prompt": prompt,
            "prompt_ids": ids,
            "last_logits": [float(x) for x in logits.numpy().astype(np.float32)],
            "greedy_ids": gen,
            "greedy_text": tok.decode(gen),
        })

    sys.path.insert(0, os.path.join(ROOT, "tests", "py"))
    from reference import gguf_reader, llama_forward
    ref = llama_forward.Model(gguf_reader.GGUFFile(args.gguf))
    worst = 0.0
    for c in cases:
        seq = c["prompt_ids"] + c["greedy_ids"]
        want = model(torch.tensor([seq]))[0].double().numpy()
        got = ref.logits(seq)
        worst = max(worst, float(np.abs(got - want).max()))
        assert int(np.argmax(got[len(c["prompt_ids"]) - 1])) == int(np.argmax(c["last_logits"]))
    print(f"numpy reference on {os.path.basename(args.gguf)} vs PyTorch: max |logit diff| {worst:.2e}")
    assert worst < 1e-3, "exported GGUF disagrees with PyTorch"

    fixture = {
        "about": "PyTorch float32 reference for models/demo/demo-f32.gguf; written by "
                 "tools/demo_model/make_fixture.py. prompt_ids include the BOS token "
                 "(<|endoftext|>); last_logits are the logits after the last prompt token; "
                 f"greedy_ids are {N_NEW} greedy tokens or fewer, ending with <|endoftext|> "
                 "when the model stops.",
        "model": "models/demo/demo-f32.gguf",
        "checkpoint_step": ck["step"],
        "vocab_size": tok.vocab_size,
        "bos_id": tok.bos,
        "eos_id": tok.eos,
        "numpy_reference_max_abs_diff": worst,
        "cases": cases,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(fixture, f, indent=1)
    for c in cases:
        print(repr(c["prompt"][-50:]), "->", repr(c["greedy_text"]))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
