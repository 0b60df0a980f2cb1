"""`entropix gen-model` files read back with the numpy reader (tests/py/reference):
llama.cpp's metadata keys and values, the tensor set of each architecture, the
Q4_K_M type mix, Llama-3 rope factors, a usable byte-level BPE vocabulary, weight
statistics, reproducibility from the seed, and clear errors for bad arguments."""
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import dequant, engine_cli, gguf_reader  # noqa: E402
from reference.checks import Checks  # noqa: E402

TEST = "test_gen_model"
check = Checks(TEST)


def gpt2_byte_chars():
    """GPT-2's bytes_to_unicode: the set of characters byte-level tokens are made of."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c) for c in cs}


def llama3_rope_factors(head_dim, base, factor=32.0, low=1.0, high=4.0, original=8192.0):
    """As llama.cpp's converter computes rope_freqs for Llama 3.1+."""
    out = []
    for i in range(0, head_dim, 2):
        wavelen = 2 * math.pi * base ** (i / head_dim)
        if wavelen < original / high:
            out.append(1.0)
        elif wavelen > original / low:
            out.append(factor)
        else:
            smooth = (original / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out)


def check_vocab(g, family):
    md = g.metadata
    tokens = md["tokenizer.ggml.tokens"]
    types = md["tokenizer.ggml.token_type"]
    merges = md["tokenizer.ggml.merges"]
    n_vocab = g.tensors["token_embd.weight"].ne[1]
    check(md["tokenizer.ggml.model"] == "gpt2", f"{family}: tokenizer model gpt2")
    check(len(tokens) == n_vocab and len(types) == n_vocab, f"{family}: {n_vocab} tokens and token types")
    check(len(set(tokens)) == len(tokens), f"{family}: tokens unique")
    ids = {t: i for i, t in enumerate(tokens)}
    byte_chars = gpt2_byte_chars()
    normal = [t for t, ty in zip(tokens, types) if ty == 1]
    check(all(set(t) <= byte_chars for t in normal), f"{family}: every normal token is GPT-2 byte text")
    check(byte_chars <= set(tokens), f"{family}: all 256 byte tokens present")
    ok = True
    for m in merges:
        a, b = m.split(" ", 1)
        ok &= a in ids and b in ids and (a + b) in ids and ids[a + b] > max(ids[a], ids[b])
    check(ok and len(merges) > 0, f"{family}: {len(merges)} merges join two tokens into a later token")
    bos, eos = md["tokenizer.ggml.bos_token_id"], md["tokenizer.ggml.eos_token_id"]
    if family == "llama":
        check(md["tokenizer.ggml.pre"] == "llama-bpe", "llama: pre-tokenizer llama-bpe")
        check(tokens[bos] == "<|begin_of_text|>" and tokens[eos] == "<|end_of_text|>", "llama: bos/eos")
        check("<|eot_id|>" in ids and types[ids["<|eot_id|>"]] == 3, "llama: <|eot_id|> is a control token")
    else:
        check(md["tokenizer.ggml.pre"] == "qwen2", "qwen: pre-tokenizer qwen2")
        check(tokens[bos] == "<|endoftext|>" and eos == bos, "qwen: bos = eos = <|endoftext|>")
        check("<|im_end|>" in ids and types[ids["<|im_end|>"]] == 3, "qwen: <|im_end|> is a control token")


def main():
    exe = engine_cli.binary(TEST)
    with tempfile.TemporaryDirectory(prefix="entropix-gen-") as tmp:
        paths = {}
        for arch in ("llama", "qwen2", "qwen3"):
            paths[arch] = os.path.join(tmp, f"{arch}.gguf")
            engine_cli.gen_model(exe, paths[arch], "tiny", arch, "q4_k_m", 7)

        # Metadata with llama.cpp's keys.
        g = gguf_reader.GGUFFile(paths["llama"])
        md = g.metadata
        expect = {"general.architecture": "llama", "llama.embedding_length": 256, "llama.block_count": 2,
                  "llama.feed_forward_length": 512, "llama.attention.head_count": 4,
                  "llama.attention.head_count_kv": 2, "llama.attention.key_length": 64,
                  "llama.rope.dimension_count": 64, "llama.rope.freq_base": 500000.0,
                  "general.file_type": 15}
        for k, v in expect.items():
            check(md.get(k) == v, f"llama: {k} = {v} (found {md.get(k)})")
        check(abs(md["llama.attention.layer_norm_rms_epsilon"] - 1e-5) < 1e-9, "llama: rms epsilon 1e-5")

        # The Q4_K_M mix on 2 layers: use_more_bits picks layer 1 only.
        t = g.tensors
        mix = {"token_embd.weight": dequant.Q4_K, "output.weight": dequant.Q6_K,
               "blk.0.attn_v.weight": dequant.Q4_K, "blk.1.attn_v.weight": dequant.Q6_K,
               "blk.0.ffn_down.weight": dequant.Q4_K, "blk.1.ffn_down.weight": dequant.Q6_K,
               "blk.1.attn_q.weight": dequant.Q4_K, "blk.1.ffn_norm.weight": dequant.F32,
               "rope_freqs.weight": dequant.F32}
        for name, ty in mix.items():
            check(name in t and t[name].type == ty, f"llama q4_k_m: {name} is {dequant.NAMES[ty]}")

        # Llama-3 rope factors, computed independently.
        factors = g.tensor("rope_freqs.weight")
        check(np.allclose(factors, llama3_rope_factors(64, 500000.0), rtol=1e-6), "llama: rope_freqs = Llama-3 factors")

        # Weight statistics: matrices N(0, 0.02^2) after quantization, norms near 1.
        w = g.tensor("blk.0.ffn_gate.weight")
        check(abs(w.std() - 0.02) < 0.002 and abs(w.mean()) < 0.001, f"llama: ffn_gate std {w.std():.4f} ~ 0.02")
        n = g.tensor("blk.0.attn_norm.weight")
        check(abs(n.mean() - 1) < 0.02 and 0.03 < n.std() < 0.07, f"llama: attn_norm mean {n.mean():.3f} ~ 1")

        # Architecture parts.
        q2 = gguf_reader.GGUFFile(paths["qwen2"])
        check("blk.0.attn_k.bias" in q2.tensors and "output.weight" not in q2.tensors
              and "rope_freqs.weight" not in q2.tensors, "qwen2: qkv biases, tied output, no rope factors")
        q3 = gguf_reader.GGUFFile(paths["qwen3"])
        check(q3.tensors["blk.1.attn_q_norm.weight"].ne == [128] and q3.metadata["qwen3.attention.key_length"] == 128
              and q3.tensors["blk.0.attn_q.weight"].ne == [256, 512], "qwen3: q/k norms, head dim 128")
        check(q3.tensors["token_embd.weight"].type == dequant.Q6_K, "qwen3 q4_k_m: tied token_embd is q6_K")

        check_vocab(g, "llama")
        check_vocab(q2, "qwen")

        # gemma2, gemma3, phi3: their tensors and keys as llama.cpp's converter writes them.
        fam = {}
        for arch in ("gemma2", "gemma3", "phi3"):
            fam[arch] = os.path.join(tmp, f"{arch}.gguf")
            engine_cli.gen_model(exe, fam[arch], "tiny", arch, "q4_k_m", 7)
        g2 = gguf_reader.GGUFFile(fam["gemma2"])
        m2 = g2.metadata
        check(m2.get("gemma2.attention.sliding_window") == 8 and m2.get("gemma2.attention.sliding_window_pattern") == 2
              and abs(m2.get("gemma2.attn_logit_softcapping", 0) - 0.5) < 1e-6
              and abs(m2.get("gemma2.final_logit_softcapping", 0) - 1.0) < 1e-6,
              "gemma2: window 8 on every other layer, soft-caps 0.5 and 1")
        check(all(f"blk.{i}.{n}.weight" in g2.tensors for i in range(2)
                  for n in ("post_attention_norm", "post_ffw_norm", "ffn_gate"))
              and "blk.0.attn_q_norm.weight" not in g2.tensors and "output.weight" not in g2.tensors,
              "gemma2: post norms, no head norms, tied output")
        g3 = gguf_reader.GGUFFile(fam["gemma3"])
        check("blk.1.attn_k_norm.weight" in g3.tensors and "blk.1.post_ffw_norm.weight" in g3.tensors
              and "gemma3.attn_logit_softcapping" not in g3.metadata, "gemma3: head norms, post norms, no caps")
        tokens, scores = g3.metadata["tokenizer.ggml.tokens"], g3.metadata["tokenizer.ggml.scores"]
        check(g3.metadata["tokenizer.ggml.model"] == "llama" and len(scores) == len(tokens) == 512
              and tokens[:4] == ["<pad>", "<eos>", "<bos>", "<unk>"] and tokens[106] == "<start_of_turn>"
              and tokens[108] == "<0x00>" and g3.metadata["tokenizer.ggml.add_space_prefix"] is False,
              "gemma3: Gemma's SentencePiece layout")
        p3 = gguf_reader.GGUFFile(fam["phi3"])
        md3 = p3.metadata
        check(p3.tensors["blk.0.attn_qkv.weight"].ne == [256, 512] and p3.tensors["blk.0.attn_qkv.weight"].type == dequant.Q5_K
              and "blk.0.attn_q.weight" not in p3.tensors and p3.tensors["blk.0.ffn_up.weight"].ne == [256, 1024]
              and "blk.0.ffn_gate.weight" not in p3.tensors, "phi3: fused qkv (Q5_K in Q4_K_M) and gate/up")
        attn_factor = math.sqrt(1 + math.log(2048 / 512) / math.log(512))
        check(md3["phi3.rope.dimension_count"] == 48 and md3["phi3.rope.scaling.original_context_length"] == 512
              and abs(md3["phi3.rope.scaling.attn_factor"] - attn_factor) < 1e-6
              and p3.tensors["rope_factors_long.weight"].ne == [24] and p3.tensors["rope_factors_short.weight"].ne == [24],
              "phi3: partial rotation, long-rope keys and factors")
        check("phi3" not in md3["general.name"], "phi3: a name llama.cpp does not take for Phi-3's vocabulary")
        moe_path = os.path.join(tmp, "qwen3moe.gguf")
        engine_cli.gen_model(exe, moe_path, "tiny", "qwen3moe", "q4_k_m", 7)
        moe = gguf_reader.GGUFFile(moe_path)
        mt = moe.tensors
        check(moe.metadata["qwen3moe.expert_count"] == 4 and moe.metadata["qwen3moe.expert_used_count"] == 2
              and moe.metadata["qwen3moe.expert_feed_forward_length"] == 256
              and mt["blk.0.ffn_gate_inp.weight"].ne == [256, 4] and mt["blk.0.ffn_gate_inp.weight"].type == dequant.F32
              and mt["blk.0.ffn_gate_exps.weight"].ne == [256, 256, 4] and mt["blk.0.ffn_down_exps.weight"].ne == [256, 256, 4]
              and mt["blk.1.ffn_down_exps.weight"].type == dequant.Q6_K and mt["blk.0.ffn_up_exps.weight"].type == dequant.Q4_K
              and "blk.0.ffn_gate.weight" not in mt and "blk.0.attn_q_norm.weight" in mt,
              "qwen3moe: router (F32), 3-D expert tensors with the Q4_K_M mix, head norms")
        mismatch = subprocess.run([exe, "gen-model", "--shape", "gemma3-1b", "--arch", "llama", "-o",
                                   os.path.join(tmp, "m.gguf")], capture_output=True, text=True)
        check(mismatch.returncode != 0 and "gemma3" in mismatch.stdout + mismatch.stderr
              and not os.path.exists(os.path.join(tmp, "m.gguf")), "gemma3-1b with --arch llama: refused")

        # Same seed, same bytes; another seed, other weights.
        again = os.path.join(tmp, "again.gguf")
        engine_cli.gen_model(exe, again, "tiny", "llama", "q4_k_m", 7)
        with open(paths["llama"], "rb") as a, open(again, "rb") as b:
            check(a.read() == b.read(), "same seed: identical file")
        other = os.path.join(tmp, "other.gguf")
        engine_cli.gen_model(exe, other, "tiny", "llama", "q4_k_m", 8)
        o = gguf_reader.GGUFFile(other).tensor("blk.0.attn_q.weight")
        check(not np.array_equal(o, g.tensor("blk.0.attn_q.weight")), "another seed: other weights")

        # Every type names itself in general.file_type and uses its tensor type.
        for ty, (ftype, gtype) in {"f32": (0, dequant.F32), "f16": (1, dequant.F16), "bf16": (32, dequant.BF16),
                                   "q8_0": (7, dequant.Q8_0), "q4_0": (2, dequant.Q4_0),
                                   "q5_k": (16, dequant.Q5_K), "q6_k": (18, dequant.Q6_K)}.items():
            p = os.path.join(tmp, f"t-{ty}.gguf")
            engine_cli.gen_model(exe, p, "tiny", "qwen2", ty, 1)
            f = gguf_reader.GGUFFile(p)
            check(f.metadata["general.file_type"] == ftype and f.tensors["blk.0.ffn_up.weight"].type == gtype
                  and f.tensors["blk.0.attn_v.bias"].type == dequant.F32, f"type {ty}: matrices {dequant.NAMES[gtype]}")

        # Bad arguments: an error that names the value, no file.
        bad = subprocess.run([exe, "gen-model", "--shape", "llama-7b", "-o", os.path.join(tmp, "x.gguf")],
                             capture_output=True, text=True)
        check(bad.returncode != 0 and "llama-7b" in bad.stdout + bad.stderr
              and not os.path.exists(os.path.join(tmp, "x.gguf")), "unknown shape: error naming it")

    return check.status()


if __name__ == "__main__":
    sys.exit(main())
