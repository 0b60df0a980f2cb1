"""The engine's logits against the numpy reference (tests/py/reference) on
random-weight models from `entropix gen-model --shape tiny`, for every architecture
(llama, qwen2, qwen3, qwen3moe, gemma2, gemma3, phi3) and every tensor type. Needs no external
test data. The gemma models' window (8 positions on layer 0) is shorter than the
prompts, so the window's edge is inside every case.

For each model: 24 seeded random tokens (more than one 16-position KV page), the
engine's `logits` for every position, and two references on the same tokens:
  exact   float64 math on the dequantized weights;
  act-q8  the same, with the input rows of each quantized matmul first rounded to
          8 bits as llama.cpp does (Q8_0 for Q8_0/Q4_0 weights, Q8_K for K-quants).
Errors are measured relative to the standard deviation of the exact logits (about
0.32 on these models): max = max |engine - ref| / std, rms likewise.

These comparisons run the engine with an F32 KV cache, so that only the kernels'
arithmetic separates it from the references. Its default F16 cache is then checked
against the same references with keys and values rounded to fp16 as it stores them.
"""
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import engine_cli, gguf_reader, llama_forward  # noqa: E402

TEST = "test_reference_logits"
ARCHS = ["llama", "qwen2", "qwen3", "qwen3moe", "gemma2", "gemma3", "phi3"]
FLOAT_TYPES = ["f32", "f16", "bf16"]
QUANT_TYPES = ["q8_0", "q4_0", "q4_k_m", "q5_k", "q6_k"]
N_TOKENS = 24
# The long case: a context of several attention blocks (256 positions each, merged by an
# online softmax) read in several forward passes (256 tokens each).
N_TOKENS_LONG = 700
# gemma2: a window of 8 that leaves whole blocks behind it (skipped, not masked).
LONG_ARCHS = ["llama", "qwen3", "gemma2"]

# Float types: the engine multiplies f32 activations with weights widened exactly to
# f32, so only float32 rounding separates it from float64 (relative 1e-7 per
# operation, about 1e-5 of the logit std after two layers); 2e-3 leaves a wide margin
# yet catches any real mistake (a wrong rope pair or a missing bias moves logits by
# tens of percent of their std). Every argmax agrees.
FLOAT_TOL = {"max": 2e-3, "rms": 5e-4, "top1": 1.0}

# Quantized types against the exact reference: the 8-bit activations cost each
# element up to half a quantization step (amax/254). Measured with the act-q8
# reference on these models (seeds below), that moves logits by at most 0.075 std
# (rms 0.016 std); the engine, likewise, by at most 0.073 std (rms 0.016). The argmax
# changes at up to 3 of 24 positions (engine, qwen3 q8_0), because random models have
# near ties (top-2 gaps down to 0.002 std). Tolerances: about twice those errors, and
# argmax agreement at 3 positions in 4.
QUANT_TOL_EXACT = {"max": 0.15, "rms": 0.03, "top1": 0.75}

# Quantized types against the act-q8 reference, which does what the engine does.
# Both round activations the same way, but their inputs differ in the last float32
# bit, so now and then one quant rounds the other way: a step of one element, which
# attention carries to the later positions. Measured: relative noise of 1e-7 on the
# reference's own activations moves these logits by up to 0.027 std, from one position
# on (the engine differs from act-q8 by up to 0.025 std, same pattern); over the seven
# architectures a single flip moves a position by up to 0.05 std (qwen3moe q6_k). Hence
# max 0.08;
# and at least half the positions where the reference itself is stable under that noise
# (noisy_reference, three draws) must agree to float32 rounding (every element within
# 1e-4 std), which any systematic error would break. Where the reference itself moves
# further under that noise (Gemma's sqrt(n_embd)-scaled embeddings and post-norms make
# it more sensitive: up to 0.054 std), the bounds widen to 1.5 times its movement
# (widened). Every feature of every architecture is also held to the float types'
# bound, 2e-3, which no such rounding touches.
QUANT_TOL_ACT_Q8 = {"max": 0.08, "rms": 0.01, "top1": 0.95, "exact_positions": 0.5}
EXACT_POSITION = 1e-4

# The Q8_0 cache against the reference that quantizes keys and values as it does. Most
# models agree to float32 rounding (1e-6 std); where an element sits on a rounding
# boundary it may round the other way in the engine (its float32 input differs in the
# last bit): one 8-bit step of its block, about 16 times an fp16 step, which later
# positions carry (measured up to max 0.049, rms 0.011 std, tiny llama q6_k). Hence
# 3 and 2 times that.
Q8_CACHE_TOL = {"max": 0.15, "rms": 0.02, "top1": 0.95}

def compare(engine, ref, tol, stable=None):
    """stable: the positions where the reference itself keeps its values under float32-sized
    noise (see noisy_reference); only they count towards exact_positions. The argmax
    counts only where the reference's top two are further apart than the max bound, as
    an error within the bound may swap a nearer pair."""
    std = ref.std()
    diff = np.abs(engine - ref) / std
    top2 = np.sort(ref, axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) / std > tol["max"]
    agree = engine.argmax(axis=1) == ref.argmax(axis=1)
    exact = diff.max(axis=1) < EXACT_POSITION
    stable = np.ones(len(ref), dtype=bool) if stable is None else stable
    stats = {
        "max": float(diff.max()),
        "rms": float(np.sqrt(np.mean(diff ** 2))),
        "top1": float(np.mean(agree[clear])) if clear.any() else 1.0,
        "exact_positions": float(np.mean(exact[stable])) if stable.any() else 1.0,
    }
    problems = [f"{k} {stats[k]:.2e} > {tol[k]:.0e}" for k in ("max", "rms") if stats[k] > tol[k]]
    if stats["top1"] < tol["top1"]:
        problems.append(f"top-1 agreement {stats['top1']:.3f} < {tol['top1']}")
    if stats["exact_positions"] < tol.get("exact_positions", 0):
        problems.append(f"positions within {EXACT_POSITION:.0e} std {stats['exact_positions']:.2f} "
                        f"< {tol['exact_positions']}")
    return stats, problems


NOISE_DRAWS = 3


def noisy_reference(model, tokens, ref):
    """How far `model`'s logits move from `ref` (per position, in std of ref) when every
    matmul input is perturbed by relative noise of 1e-7 (float32's rounding), the
    largest of NOISE_DRAWS draws. Where an 8-bit activation quant sits on a rounding
    boundary it flips, and the engine, whose float32 inputs differ in the last bit, may
    round it either way: the engine's own error is judged against this envelope."""
    linear, expert_linear = model.linear, model.expert_linear
    spread = np.zeros(len(tokens))
    try:
        for draw in range(NOISE_DRAWS):
            rng = np.random.default_rng(draw)
            noise = lambda x: x * (1 + 1e-7 * rng.standard_normal(x.shape))  # noqa: E731
            model.linear = lambda x, name, rows=None: linear(noise(x), name, rows)
            model.expert_linear = lambda x, name, w: expert_linear(noise(x), name, w)
            spread = np.maximum(spread, (np.abs(model.logits(tokens) - ref) / ref.std()).max(axis=1))
    finally:
        model.linear, model.expert_linear = linear, expert_linear
    return spread


def widened(tol, envelope):
    """tol with its max and rms bounds raised to 1.5 times what the reference itself moves
    by (envelope: per-position maxima, in std), where that is more."""
    out = dict(tol)
    out["max"] = max(tol["max"], 1.5 * float(envelope.max()))
    out["rms"] = max(tol["rms"], 1.5 * float(np.sqrt(np.mean(envelope ** 2))))
    return out


def fmt(stats, exact_positions=False):
    line = f"max {stats['max']:.1e} rms {stats['rms']:.1e} top1 {stats['top1']:.2f}"
    return line + (f" exact {stats['exact_positions']:.2f}" if exact_positions else "")


def main():
    exe = engine_cli.binary(TEST)
    failures = []
    with tempfile.TemporaryDirectory(prefix="entropix-ref-") as tmp:
        for ai, arch in enumerate(ARCHS):
            for ti, ggml_type in enumerate(FLOAT_TYPES + QUANT_TYPES):
                seed = 100 * ai + ti
                name = f"tiny {arch} {ggml_type} seed {seed}"
                path = os.path.join(tmp, f"{arch}-{ggml_type}.gguf")
                try:
                    engine_cli.gen_model(exe, path, "tiny", arch, ggml_type, seed)
                    gguf = gguf_reader.GGUFFile(path)
                    exact_model = llama_forward.Model(gguf, kv_f16=False)
                    tokens = np.random.default_rng(seed).integers(0, exact_model.n_vocab, N_TOKENS).tolist()
                    engine = engine_cli.logits(exe, path, tokens, path + ".logits.f32", exact_model.n_vocab, "f32")
                    engine_f16 = engine_cli.logits(exe, path, tokens, path + ".logits-f16.f32", exact_model.n_vocab, "f16")
                    engine_q8 = engine_cli.logits(exe, path, tokens, path + ".logits-q8.f32", exact_model.n_vocab, "q8_0")
                except Exception as e:  # a crash or missing command is a failure of this case
                    failures.append(f"{name}: {e}")
                    print(f"FAIL {name}: {e}")
                    continue
                exact = exact_model.logits(tokens)
                quantized = ggml_type not in FLOAT_TYPES
                if not quantized:
                    stats, problems = compare(engine, exact, FLOAT_TOL)
                    line = f"{name}: {fmt(stats)}"
                else:
                    act_q8_model = llama_forward.Model(gguf, act_q8=True, kv_f16=False)
                    act_q8 = act_q8_model.logits(tokens)
                    # The engine is held to the exact reference no closer than act-q8, which
                    # rounds as it does: with experts, rounding can change a token's choice.
                    act_q8_error = (np.abs(act_q8 - exact) / exact.std()).max(axis=1)
                    stats, problems = compare(engine, exact, widened(QUANT_TOL_EXACT, act_q8_error))
                    spread = noisy_reference(act_q8_model, tokens, act_q8)
                    stable = spread < EXACT_POSITION
                    stats_q8, problems_q8 = compare(engine, act_q8, widened(QUANT_TOL_ACT_Q8, spread), stable)
                    problems += [f"vs act-q8: {p}" for p in problems_q8]
                    line = f"{name}: exact {fmt(stats)} | act-q8 {fmt(stats_q8, True)}"
                # The F16 cache against the reference that rounds keys and values alike. A
                # key element on a rounding boundary may round the other way in the engine
                # (its float32 input differs in the last bit): a step of one fp16 unit, which
                # can in turn flip an 8-bit activation quant (measured up to 0.052 std on
                # qwen3 q4_k_m). So no exactness criterion, and twice the act-q8 bound.
                ref_f16 = llama_forward.Model(gguf, act_q8=quantized, kv_f16=True).logits(tokens)
                tol_f16 = {"max": 0.1, "rms": 0.01, "top1": 0.95} if quantized else {"max": 1e-2, "rms": 2e-3, "top1": 1.0}
                stats_f16, problems_f16 = compare(engine_f16, ref_f16, widened(tol_f16, spread) if quantized else tol_f16)
                problems += [f"f16 cache: {p}" for p in problems_f16]
                line += f" | f16 cache {fmt(stats_f16)}"
                # The Q8_0 cache against the reference that quantizes keys and values alike.
                # An element on a rounding boundary may round the other way (one 8-bit step
                # of its block, up to 1/127 of the block's largest element).
                ref_q8 = llama_forward.Model(gguf, act_q8=quantized, kv_q8=True).logits(tokens)
                stats_q8c, problems_q8c = compare(engine_q8, ref_q8, widened(Q8_CACHE_TOL, spread) if quantized else Q8_CACHE_TOL)
                problems += [f"q8_0 cache: {p}" for p in problems_q8c]
                line += f" | q8_0 cache {fmt(stats_q8c)}"
                print(("FAIL " if problems else "ok   ") + line + ("  <- " + "; ".join(problems) if problems else ""))
                if problems:
                    failures.append(f"{name}: {'; '.join(problems)}")
        for arch in LONG_ARCHS:
            name = f"tiny {arch} f32, {N_TOKENS_LONG} tokens"
            path = os.path.join(tmp, f"{arch}-long.gguf")
            try:
                engine_cli.gen_model(exe, path, "tiny", arch, "f32", 7)
                gguf = gguf_reader.GGUFFile(path)
                exact_model = llama_forward.Model(gguf, kv_f16=False)
                tokens = np.random.default_rng(7).integers(0, exact_model.n_vocab, N_TOKENS_LONG).tolist()
                engine = engine_cli.logits(exe, path, tokens, path + ".logits.f32", exact_model.n_vocab, "f32")
                engine_f16 = engine_cli.logits(exe, path, tokens, path + ".logits-f16.f32", exact_model.n_vocab, "f16")
                engine_q8 = engine_cli.logits(exe, path, tokens, path + ".logits-q8.f32", exact_model.n_vocab, "q8_0")
            except Exception as e:
                failures.append(f"{name}: {e}")
                print(f"FAIL {name}: {e}")
                continue
            stats, problems = compare(engine, exact_model.logits(tokens), FLOAT_TOL)
            stats_f16, problems_f16 = compare(engine_f16, llama_forward.Model(gguf, kv_f16=True).logits(tokens),
                                              {"max": 1e-2, "rms": 2e-3, "top1": 1.0})
            problems += [f"f16 cache: {p}" for p in problems_f16]
            stats_q8c, problems_q8c = compare(engine_q8, llama_forward.Model(gguf, kv_q8=True).logits(tokens), Q8_CACHE_TOL)
            problems += [f"q8_0 cache: {p}" for p in problems_q8c]
            line = f"{name}: {fmt(stats)} | f16 cache {fmt(stats_f16)} | q8_0 cache {fmt(stats_q8c)}"
            print(("FAIL " if problems else "ok   ") + line + ("  <- " + "; ".join(problems) if problems else ""))
            if problems:
                failures.append(f"{name}: {'; '.join(problems)}")
    if failures:
        print(f"\n{len(failures)} of {len(ARCHS) * (len(FLOAT_TYPES) + len(QUANT_TYPES)) + len(LONG_ARCHS)} models disagree:")
        for f in failures:
            print("  " + f)
        return 1
    print("all models agree with the reference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
