"""Writes the trained demo model as GGUF v3 files that llama.cpp (and entropix.cpp) load.

A self-contained GGUF writer (no `gguf` package): header, typed metadata,
tensor infos, alignment 32, tensor data each padded to the alignment.
Layout: magic "GGUF", u32 version 3, u64 tensor count, u64 metadata count;
each metadata entry is (string key, u32 type, value); each tensor info is
(string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset into the
data section). Strings are u64 length + UTF-8 bytes. ne[0] is the innermost
(contiguous) dimension: for a weight matrix the input dimension, so PyTorch's
row-major [out, in] array is written as it is with ne = [in, out].

Tensor types: norms always F32; matrices F32, F16, or Q8_0 (blocks of 32
values: fp16 scale d = max|x| / 127, then 32 int8 q = round(x / d), as
ggml's quantize_row_q8_0_ref).

  /usr/bin/python3 tools/demo_model/export_gguf.py --ckpt tools/demo_model/work/run/ckpt.pt
      -> models/demo/demo-f32.gguf and models/demo/demo-q8_0.gguf
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from bpe import EOT, Tokenizer  # noqa: E402

ALIGN = 32
GGML_F32, GGML_F16, GGML_Q8_0 = 0, 1, 8
FILE_TYPE = {"f32": 0, "f16": 1, "q8_0": 7}   # llama_ftype: ALL_F32, MOSTLY_F16, MOSTLY_Q8_0

# metadata value types
T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64, T_I64, T_F64 = range(13)
_SCALAR = {T_U8: "<B", T_I8: "<b", T_U16: "<H", T_I16: "<h", T_U32: "<I", T_I32: "<i",
           T_F32: "<f", T_BOOL: "<?", T_U64: "<Q", T_I64: "<q", T_F64: "<d"}


def _str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _value(vtype, v):
    if vtype == T_STR:
        return _str(v)
    if isinstance(vtype, tuple):            # (T_ARR, element type)
        et = vtype[1]
        return struct.pack("<IQ", et, len(v)) + b"".join(_value(et, x) for x in v)
    return struct.pack(_SCALAR[vtype], v)


def quantize_q8_0(x):
    """x: float32 array, size a multiple of 32 -> Q8_0 bytes (34 per block)."""
    b = x.astype(np.float32).reshape(-1, 32)
    amax = np.abs(b).max(axis=1)
    d = (amax / np.float32(127)).astype(np.float32)
    inv = np.where(d > 0, np.float32(1) / np.where(d > 0, d, 1), 0).astype(np.float32)
    v = b * inv[:, None]
    q = np.trunc(v + np.copysign(np.float32(0.5), v)).astype(np.int8)   # roundf: half away from 0
    out = np.empty((b.shape[0], 34), dtype=np.uint8)
    out[:, :2] = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out.tobytes()


def write_gguf(path, metadata, tensors):
    """metadata: list of (key, type, value); tensors: list of (name, array [.., in], ggml type)."""
    infos, blobs, offset = [], [], 0
    for name, arr, gtype in tensors:
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        ne = list(reversed(arr.shape))
        if gtype == GGML_F32:
            data = arr.tobytes()
        elif gtype == GGML_F16:
            data = arr.astype(np.float16).tobytes()
        elif gtype == GGML_Q8_0:
            assert ne[0] % 32 == 0, f"{name}: ne[0]={ne[0]} is not a multiple of 32"
            data = quantize_q8_0(arr)
        else:
            raise ValueError(f"{name}: unsupported type {gtype}")
        infos.append(_str(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne)
                     + struct.pack("<IQ", gtype, offset))
        pad = (-len(data)) % ALIGN
        blobs.append(data + b"\0" * pad)
        offset += len(data) + pad
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata))
    head += b"".join(_str(k) + struct.pack("<I", t if not isinstance(t, tuple) else T_ARR) + _value(t, v)
                     for k, t, v in metadata)
    head += b"".join(infos)
    head += b"\0" * ((-len(head)) % ALIGN)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(head)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


# The training format as a chat: a user turn is a question, the assistant's the worked
# answer ended by <|endoftext|>. The model has no system role, so system messages are
# left out rather than shown to it as text it never saw.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'user' %}Q: {{ message['content'] | trim }}\n"
    "{% elif message['role'] == 'assistant' %}A: {{ message['content'] | trim }}{{ eos_token }}"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}A:{% endif %}"
)


def llama_metadata(cfg, tok, name, ftype):
    n_ctx = cfg["max_seq_len"]
    head_dim = cfg["dim"] // cfg["n_heads"]
    token_type = [3 if t == EOT else 1 for t in tok.tokens]   # 1 normal, 3 control
    md = [
        ("general.architecture", T_STR, "llama"),
        ("general.name", T_STR, name),
        ("general.license", T_STR, "MIT"),
        ("general.file_type", T_U32, FILE_TYPE[ftype]),
        ("llama.context_length", T_U32, n_ctx),
        ("llama.embedding_length", T_U32, cfg["dim"]),
        ("llama.block_count", T_U32, cfg["n_layers"]),
        ("llama.feed_forward_length", T_U32, cfg["hidden_dim"]),
        ("llama.attention.head_count", T_U32, cfg["n_heads"]),
        ("llama.attention.head_count_kv", T_U32, cfg["n_kv_heads"]),
        ("llama.attention.layer_norm_rms_epsilon", T_F32, cfg["norm_eps"]),
        ("llama.rope.freq_base", T_F32, cfg["rope_theta"]),
        ("llama.rope.dimension_count", T_U32, head_dim),
        ("llama.vocab_size", T_U32, tok.vocab_size),
        ("tokenizer.ggml.model", T_STR, "gpt2"),
        ("tokenizer.ggml.pre", T_STR, "qwen2"),
        ("tokenizer.ggml.tokens", (T_ARR, T_STR), tok.tokens),
        ("tokenizer.ggml.token_type", (T_ARR, T_I32), token_type),
        ("tokenizer.ggml.merges", (T_ARR, T_STR), [f"{a} {b}" for a, b in tok.merges]),
        ("tokenizer.ggml.bos_token_id", T_U32, tok.bos),
        ("tokenizer.ggml.eos_token_id", T_U32, tok.eos),
        ("tokenizer.ggml.add_bos_token", T_BOOL, True),
        ("tokenizer.ggml.add_eos_token", T_BOOL, False),
        ("tokenizer.chat_template", T_STR, CHAT_TEMPLATE),
    ]
    if ftype == "q8_0":
        md.append(("general.quantization_version", T_U32, 2))
    return md


def llama_tensors(sd, cfg, ftype):
    """(gguf name, float32 array, ggml type) in llama.cpp's naming."""
    mat = {"f32": GGML_F32, "f16": GGML_F16, "q8_0": GGML_Q8_0}[ftype]

    def a(k):
        return sd[k].detach().float().cpu().numpy()

    out = [("token_embd.weight", a("tok_embeddings.weight"), mat)]
    for i in range(cfg["n_layers"]):
        p = f"layers.{i}."
        out += [
            (f"blk.{i}.attn_norm.weight", a(p + "attention_norm.weight"), GGML_F32),
            (f"blk.{i}.attn_q.weight", a(p + "attention.wq.weight"), mat),
            (f"blk.{i}.attn_k.weight", a(p + "attention.wk.weight"), mat),
            (f"blk.{i}.attn_v.weight", a(p + "attention.wv.weight"), mat),
            (f"blk.{i}.attn_output.weight", a(p + "attention.wo.weight"), mat),
            (f"blk.{i}.ffn_norm.weight", a(p + "ffn_norm.weight"), GGML_F32),
            (f"blk.{i}.ffn_gate.weight", a(p + "feed_forward.w1.weight"), mat),
            (f"blk.{i}.ffn_up.weight", a(p + "feed_forward.w3.weight"), mat),
            (f"blk.{i}.ffn_down.weight", a(p + "feed_forward.w2.weight"), mat),
        ]
    out.append(("output_norm.weight", a("norm.weight"), GGML_F32))
    if not cfg.get("tie_embeddings"):
        out.append(("output.weight", a("output.weight"), mat))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", default=os.path.join(HERE, "work", "run", "ckpt.pt"))
    ap.add_argument("--tokenizer", default=os.path.join(ROOT, "models", "demo", "tokenizer.json"))
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "models", "demo"))
    ap.add_argument("--types", default="f32,q8_0", help="comma list of f32, f16, q8_0")
    ap.add_argument("--name", default="entropix-demo")
    args = ap.parse_args()

    import torch
    ck = torch.load(args.ckpt, map_location="cpu")
    cfg, sd = ck["config"], ck["model"]
    tok = Tokenizer.load(args.tokenizer)
    assert tok.vocab_size == cfg["vocab_size"], "tokenizer and checkpoint disagree on the vocabulary"
    os.makedirs(args.out_dir, exist_ok=True)
    for ftype in args.types.split(","):
        path = os.path.join(args.out_dir, f"demo-{ftype}.gguf")
        write_gguf(path, llama_metadata(cfg, tok, args.name, ftype), llama_tensors(sd, cfg, ftype))
        print(f"{path}: {os.path.getsize(path)} bytes (step {ck['step']})")
    print(json.dumps(cfg))


if __name__ == "__main__":
    main()
