"""Attention metrics of the engine's trace against an independent recomputation.

`entropix run --attn-metrics --trace` on stories260K records, for every generated
token, the attention entropy, varentropy, agreement and interaction strength of the
last layer for the newest query. Here the numpy reference (tests/py/reference)
recomputes that layer's queries and keys for the same tokens, and the metrics from
their scaled scores over the causally valid positions, with the formulas of
shared/docs/entropix-method.md section 1. Also: the recorded state of every token
re-derives from its recorded metrics and the thresholds of the profile used.
Skipped (exit 77) when the test data folder is absent.
"""
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import engine_cli, gguf_reader, llama_forward  # noqa: E402

TEST = "test_attention_metrics"
# F32 weights: float32 engine against float64 reference; metrics are smooth in the scores.
TOL = 2e-3


def metrics_from_scores(s):
    """s: float64[n_head][n_pos] scaled scores of one query over its valid positions."""
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(p > 0, p * np.log2(p), 0.0)
    h = -plogp.sum(axis=1)
    return {
        "entropy": h.mean(),
        "varentropy": h.var(),
        "agreement": np.abs(p - p.mean(axis=0, keepdims=True)).mean(),
        "interaction": np.abs(s).mean(),
    }


def classify(m, t):
    h, v = m["entropy"], m["varentropy"]
    if h < t["entropy_low"] and v < t["varentropy_low"]:
        return "LELV"
    if h > t["entropy_high"] and v < t["varentropy_low"]:
        return "HELV"
    if h < t["entropy_high"] and v > t["varentropy_high"]:
        return "LEHV"
    if h > t["entropy_high"] and v > t["varentropy_high"]:
        return "HEHV"
    return "ADAPTIVE"


def main():
    exe = engine_cli.binary(TEST)
    model_path = os.path.join(engine_cli.testdata_dir(), "models", "stories260K.gguf")
    if not os.path.exists(model_path):
        engine_cli.skip(TEST, f"{model_path} not found (set ENTROPIX_TESTDATA)")
    prompt = engine_cli.tokenize_ids(exe, model_path, "Once upon a time")
    with tempfile.TemporaryDirectory() as tmp:
        trace_path = os.path.join(tmp, "trace.jsonl")
        profile_path = os.path.join(tmp, "profile.json")
        # Thresholds inside the range of this model's metrics, so several states occur.
        with open(profile_path, "w") as f:
            json.dump({"thresholds": {"entropy_low": 0.5, "entropy_high": 1.5,
                                      "varentropy_low": 0.8, "varentropy_high": 2.0}}, f)
        engine_cli.run([exe, "run", "-m", model_path, "-p", "Once upon a time", "-n", "24", "-s", "5",
                        "--sampler", "entropix", "--profile", profile_path, "--attn-metrics",
                        "--trace", trace_path, "-t", "1"])
        records = [json.loads(line) for line in open(trace_path)]
    model = llama_forward.Model(gguf_reader.GGUFFile(model_path))
    model.keep_scores_layer = model.cfg.n_layer - 1
    thresholds = {"entropy_low": 0.5, "entropy_high": 1.5, "varentropy_low": 0.8, "varentropy_high": 2.0}
    tokens = list(prompt)
    worst = 0.0
    states = set()
    for i, rec in enumerate(records):
        got = rec["metrics"]["attention"]
        if got is None:
            raise AssertionError(f"token {i}: no attention metrics recorded")
        model.logits(tokens)
        want = metrics_from_scores(model.kept_scores[:, -1, :len(tokens)])
        for key in want:
            err = abs(got[key] - want[key]) / max(1.0, abs(want[key]))
            worst = max(worst, err)
            if err > TOL:
                raise AssertionError(f"token {i} ({len(tokens)} positions): attention {key} {got[key]} vs {want[key]}")
        state = classify(rec["metrics"], thresholds)
        if state != rec["state"]:
            raise AssertionError(f"token {i}: recorded state {rec['state']}, metrics give {state}")
        states.add(state)
        if rec.get("id") is not None:
            tokens.append(rec["id"])
        else:  # inserted thinking text, in the model's own tokens
            out = engine_cli.run([exe, "tokenize", "-m", model_path, "-p", rec["thinking_text"], "--ids",
                                  "--no-bos", "--no-parse-special"])
            tokens += [int(t) for t in out.strip().strip("[]").split(",") if t.strip()]
    print(f"{len(records)} tokens, worst relative error {worst:.2e}, states seen {sorted(states)}")
    if len(states) < 2:
        raise AssertionError(f"only states {states} occurred; the check needs a varied run")


if __name__ == "__main__":
    main()
