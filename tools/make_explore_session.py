#!/usr/bin/env python3
"""Writes a large explorer session as an export (docs/explorer-api.md, format
entropix-explore version 1) for measuring the page: a first answer of --tokens
tokens and --branches branches hanging at random points of earlier paths, each
--branch-tokens long, every token with 20 alternatives whose probabilities sum
with "others" to 1. Token ids are drawn below --vocab, so that the session
imports into a server whose model has at least that many tokens.

    python3 tools/make_explore_session.py -o big.json [--tokens 4000] [--branches 200]
    curl -s localhost:8080/explore/v1/import --data-binary @big.json

Standard library only; seeded, so the same arguments write the same file."""
import argparse
import json
import math
import random

STATES = ["LELV", "LEHV", "HELV", "HEHV", "ADAPTIVE"]
WORDS = [" the", " a", " cat", " sat", " on", " mat", ".", ",", " and", " then", " it", " was", " very", " big",
         " small", " 1", " 2", " 3", " +", " =", "\n", " Wait", " so", " answer", " is"]


def token(rng, vocab, forced=False):
    ids = rng.sample(range(vocab), 20)
    weights = sorted((rng.random() ** 4 for _ in range(21)), reverse=True)
    total = sum(weights)
    probs = [w / total for w in weights]
    top = [{"id": i, "text": WORDS[i % len(WORDS)], "p": p, "q": p if k < 10 else 0.0}
           for k, (i, p) in enumerate(zip(ids, probs[:20]))]
    chosen = 0 if rng.random() < 0.8 else rng.randrange(20)
    entropy = -sum(p * math.log2(p) for p in probs)
    return {"ids": [ids[chosen]], "text": top[chosen]["text"], "logprob": math.log(probs[chosen]),
            "entropy": entropy, "varentropy": rng.random() * 4, "state": rng.choice(STATES), "action": "argmax",
            "forced": forced, "inserted": False, "top": top, "others": probs[20]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--tokens", type=int, default=4000)
    ap.add_argument("--branches", type=int, default=200)
    ap.add_argument("--branch-tokens", type=int, default=20)
    ap.add_argument("--vocab", type=int, default=600)
    ap.add_argument("--model", default="demo-q8_0")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    prompt = [{"ids": [1], "text": "Once", "logprob": None, "top": []}]
    nodes = [{"id": 1, "parent": None, "at": 0, "origin": "root", "status": "done", "finish": "length", "seed": 1,
              "tokens": [token(rng, args.vocab) for _ in range(args.tokens)]}]
    lengths = {1: args.tokens}
    for b in range(args.branches):
        parent = rng.choice(nodes)
        start = parent["at"] + 1
        at = rng.randrange(start, lengths[parent["id"]] + 1) if lengths[parent["id"]] >= start else lengths[parent["id"]]
        node = {"id": b + 2, "parent": parent["id"], "at": at, "origin": "pick", "status": "done", "finish": "length",
                "seed": b + 2, "tokens": [token(rng, args.vocab, forced=i == 0) for i in range(args.branch_tokens)]}
        nodes.append(node)
        lengths[node["id"]] = at + args.branch_tokens
    session = {"format": "entropix-explore", "version": 1, "title": f"{args.tokens} tokens, {args.branches} branches",
               "model": args.model, "mode": "text", "prompt": "Once", "messages": None,
               "settings": {"sampler": "greedy"}, "prompt_tokens": prompt, "selected": nodes[-1]["id"], "nodes": nodes}
    with open(args.output, "w") as f:
        json.dump(session, f)


if __name__ == "__main__":
    main()
