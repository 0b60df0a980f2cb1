"""Byte-level BPE tokenizer (GPT-2 style) with llama.cpp's "qwen2" pre-tokenizer.

Token ids: 0..255 are the 256 single bytes (in byte order, written with GPT-2's
byte-to-unicode mapping), then one token per merge in merge order, then the
special token <|endoftext|> last. <|endoftext|> is both BOS and EOS
(add_bos_token = true): a prompt is encoded as [BOS] + tokens, and a finished
completion ends with the same token.

Pre-tokenization follows llama.cpp's qwen2 regex
  (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+
written for Python's `re`: \\p{L} as [^\\W\\d_] and \\p{N} as \\d. Both are exact on
ASCII text (the corpus is plain ASCII); digits are single pre-tokens, so numbers
are spelled digit by digit.

Usage:
  /usr/bin/python3 tools/demo_model/bpe.py train --vocab 512   # -> models/demo/tokenizer.json
  /usr/bin/python3 tools/demo_model/bpe.py encode "Q: Mia has 3 shells."
"""
import argparse
import json
import os
import re
import sys
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_PATH = os.path.join(ROOT, "models", "demo", "tokenizer.json")

EOT = "<|endoftext|>"
_L = r"[^\W\d_]"            # \p{L}
_N = r"\d"                  # \p{N}
_NOT_LN_CRLF = r"(?:[^\w\r\n]|_)"   # [^\r\n\p{L}\p{N}]
_NOT_LN_S = r"(?:[^\w\s]|_)"        # [^\s\p{L}\p{N}]
PRETOKENIZE = re.compile(
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)"
    rf"|{_NOT_LN_CRLF}?{_L}+"
    rf"|{_N}"
    rf"| ?{_NOT_LN_S}+[\r\n]*"
    r"|\s*[\r\n]+"
    r"|\s+(?!\S)"
    r"|\s+"
)


def bytes_to_unicode():
    """GPT-2's reversible map from the 256 bytes to printable unicode characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BYTE_TO_UNI = bytes_to_unicode()
UNI_TO_BYTE = {v: k for k, v in BYTE_TO_UNI.items()}


def pretokenize(text):
    return PRETOKENIZE.findall(text)


def to_symbols(word):
    return [BYTE_TO_UNI[b] for b in word.encode("utf-8")]


def train(texts, vocab_size):
    """Learns merges until the vocabulary (256 bytes + merges + 1 special) has vocab_size tokens."""
    words = Counter()
    for t in texts:
        words.update(pretokenize(t))
    seqs = {w: to_symbols(w) for w in words}
    merges = []
    while 256 + len(merges) + 1 < vocab_size:
        pairs = Counter()
        for w, n in words.items():
            s = seqs[w]
            for a, b in zip(s, s[1:]):
                pairs[(a, b)] += n
        if not pairs:
            break
        # most frequent pair; ties broken by the pair itself so training is deterministic
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        merges.append(best)
        joined = best[0] + best[1]
        for w, s in seqs.items():
            if len(s) < 2:
                continue
            out, i = [], 0
            while i < len(s):
                if i + 1 < len(s) and s[i] == best[0] and s[i + 1] == best[1]:
                    out.append(joined)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[w] = out
    return merges


class Tokenizer:
    def __init__(self, merges):
        self.merges = [tuple(m) for m in merges]
        self.tokens = [BYTE_TO_UNI[b] for b in range(256)] + [a + b for a, b in self.merges] + [EOT]
        self.ids = {t: i for i, t in enumerate(self.tokens)}
        assert len(self.ids) == len(self.tokens), "duplicate token"
        self.ranks = {m: i for i, m in enumerate(self.merges)}
        self.eot = self.ids[EOT]
        self.bos = self.eos = self.eot
        self._cache = {}

    @classmethod
    def load(cls, path=DEFAULT_PATH):
        with open(path) as f:
            d = json.load(f)
        return cls([m.split(" ") for m in d["merges"]])

    def save(self, path=DEFAULT_PATH):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump({"model": "gpt2", "pre": "qwen2", "bos": EOT, "eos": EOT, "add_bos_token": True,
                       "tokens": self.tokens, "merges": [f"{a} {b}" for a, b in self.merges]}, f, indent=0)

    @property
    def vocab_size(self):
        return len(self.tokens)

    def _bpe(self, word):
        if word in self._cache:
            return self._cache[word]
        s = to_symbols(word)
        while len(s) > 1:
            best, best_rank = None, None
            for i in range(len(s) - 1):
                r = self.ranks.get((s[i], s[i + 1]))
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = i, r
            if best is None:
                break
            s = s[:best] + [s[best] + s[best + 1]] + s[best + 2:]
        ids = [self.ids[t] for t in s]
        self._cache[word] = ids
        return ids

    def encode(self, text, bos=False):
        """Token ids of text; <|endoftext|> written in the text becomes the special token."""
        out = [self.bos] if bos else []
        for k, part in enumerate(text.split(EOT)):
            if k:
                out.append(self.eot)
            for w in pretokenize(part):
                out.extend(self._bpe(w))
        return out

    def decode(self, ids):
        parts = []
        for i in ids:
            t = self.tokens[i]
            parts.append(t.encode("utf-8") if t == EOT else bytes(UNI_TO_BYTE[c] for c in t))
        return b"".join(parts).decode("utf-8", errors="replace")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--vocab", type=int, default=512)
    t.add_argument("--train", default=os.path.join(HERE, "work", "train.jsonl"))
    t.add_argument("--n", type=int, default=50000, help="training problems to learn merges from")
    t.add_argument("--out", default=DEFAULT_PATH)
    e = sub.add_parser("encode")
    e.add_argument("text")
    e.add_argument("--tokenizer", default=DEFAULT_PATH)
    args = ap.parse_args()
    if args.cmd == "train":
        texts = []
        with open(args.train) as f:
            for k, line in enumerate(f):
                if k >= args.n:
                    break
                r = json.loads(line)
                texts.append(r["prompt"] + r["completion"])
        tok = Tokenizer(train(texts, args.vocab))
        tok.save(args.out)
        print(f"vocab {tok.vocab_size}, {len(tok.merges)} merges -> {args.out}")
    else:
        tok = Tokenizer.load(args.tokenizer)
        ids = tok.encode(args.text, bos=True)
        print(ids)
        print([tok.tokens[i] for i in ids])
        assert tok.decode(ids[1:]) == args.text
    return 0


if __name__ == "__main__":
    sys.exit(main())
