"""Copies a GGUF with its BPE vocabulary (tokenizer.ggml.tokens, token_type, merges)
replaced by a Hugging Face tokenizer.json's, tensors and other metadata unchanged:
a random-weight model of a real shape (`entropix gen-model`) then tokenizes as the
real model does, for measurements that depend on the vocabulary (the token mask of
structured output walks its trie). The special-token ids are the GGUF's own, so the
vocabulary must have the same size and layout (gen-model's llama-1b: Llama 3's).
Added tokens become control tokens (special) or user-defined ones.

  python3 tools/gguf_vocab_from_hf.py IN.gguf tokenizer.json OUT.gguf
"""
import json
import shutil
import struct
import sys

T_U32, T_I32, T_STR, T_ARR = 4, 5, 8, 9
SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def string(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def array(etype, values):
    if etype == T_STR:
        return struct.pack("<IIQ", T_ARR, T_STR, len(values)) + b"".join(string(v) for v in values)
    return struct.pack("<IIQ", T_ARR, etype, len(values)) + b"".join(struct.pack("<i", v) for v in values)


def main(src, tokenizer_json, dst):
    tok = json.load(open(tokenizer_json, encoding="utf-8"))
    vocab = tok["model"]["vocab"]
    added = {t["id"]: t for t in tok["added_tokens"]}
    n = max(list(vocab.values()) + list(added)) + 1
    tokens, types = [""] * n, [1] * n
    for text, i in vocab.items():
        tokens[i] = text
    for i, t in added.items():
        tokens[i] = t["content"]
        types[i] = 3 if t.get("special") else 4  # control, user-defined
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    replaced = {"tokenizer.ggml.tokens": array(T_STR, tokens), "tokenizer.ggml.token_type": array(T_I32, types),
                "tokenizer.ggml.merges": array(T_STR, merges)}

    with open(src, "rb") as f:
        head = f.read(1 << 26)  # metadata and tensor infos: a few MiB even with a 150k vocabulary
    pos = 24
    magic, version, n_tensors, n_kv = struct.unpack_from("<4sIQQ", head, 0)
    assert magic == b"GGUF"
    out = bytearray(head[:24])
    alignment = 32

    def skip_value(p, vtype):
        if vtype == T_STR:
            (m,) = struct.unpack_from("<Q", head, p)
            return p + 8 + m
        if vtype == T_ARR:
            etype, m = struct.unpack_from("<IQ", head, p)
            p += 12
            if etype == T_STR or etype == T_ARR:
                for _ in range(m):
                    p = skip_value(p, etype)
                return p
            return p + m * SIZES[etype]
        return p + SIZES[vtype]

    for _ in range(n_kv):
        start = pos
        (klen,) = struct.unpack_from("<Q", head, pos)
        key = head[pos + 8:pos + 8 + klen].decode()
        pos += 8 + klen
        (vtype,) = struct.unpack_from("<I", head, pos)
        end = skip_value(pos + 4, vtype)
        if key == "general.alignment":
            (alignment,) = struct.unpack_from("<I", head, pos + 4)
        if key == "tokenizer.ggml.tokens":
            (old,) = struct.unpack_from("<Q", head, pos + 8)
            if old != len(tokens):
                sys.exit(f"{src} has {old} tokens, {tokenizer_json} {len(tokens)}: the embeddings would not match")
        if key in replaced:
            out += string(key) + replaced[key]
        else:
            out += head[start:end]
        pos = end
    info_start = pos
    for _ in range(n_tensors):
        (nlen,) = struct.unpack_from("<Q", head, pos)
        pos += 8 + nlen
        (n_dims,) = struct.unpack_from("<I", head, pos)
        pos += 4 + 8 * n_dims + 4 + 8
    out += head[info_start:pos]
    data_start = (pos + alignment - 1) // alignment * alignment
    out += b"\0" * ((-len(out)) % alignment)
    with open(src, "rb") as f, open(dst, "wb") as g:
        g.write(out)
        f.seek(data_start)
        shutil.copyfileobj(f, g, 1 << 24)


if __name__ == "__main__":
    main(*sys.argv[1:])
