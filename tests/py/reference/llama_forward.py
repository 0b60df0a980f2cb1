"""Forward pass of the llama family (llama, qwen2, qwen3) in numpy, float64.

Reads hyperparameters with llama.cpp's metadata keys and tensors with llama.cpp's
names from a GGUFFile, and returns the logits of every position of a token list.
The differences between the architectures:
  llama  rope "normal": rotates interleaved pairs (2i, 2i+1); optional Llama-3
         frequency factors (rope_freqs.weight) and linear rope scaling.
  qwen2  biases on the q, k, v projections; rope "neox": pairs (i, i + n_rot/2).
  qwen3  RMSNorm over each head of q and k (attn_q_norm/attn_k_norm) before rope; neox.
The output projection is token_embd when output.weight is absent (tied).
"""
import numpy as np

from . import dequant

NEOX_ARCHS = {"qwen2", "qwen3"}
SUPPORTED_ARCHS = {"llama", "qwen2", "qwen3"}


class Config:
    def __init__(self, gguf):
        md = gguf.metadata
        arch = gguf.arch()
        if arch not in SUPPORTED_ARCHS:
            raise ValueError(f"{gguf.path}: architecture {arch} not supported by the reference")

        def key(name, default=None):
            full = f"{arch}.{name}"
            if full in md:
                return md[full]
            if default is None:
                raise KeyError(f"{gguf.path}: metadata {full} missing")
            return default

        self.arch = arch
        self.n_embd = int(key("embedding_length"))
        self.n_layer = int(key("block_count"))
        self.n_ff = int(key("feed_forward_length"))
        self.n_head = int(key("attention.head_count"))
        self.n_head_kv = int(key("attention.head_count_kv", self.n_head))
        self.head_dim = int(key("attention.key_length", self.n_embd // self.n_head))
        self.n_rot = int(key("rope.dimension_count", self.head_dim))
        self.rms_eps = float(key("attention.layer_norm_rms_epsilon", 1e-5))
        self.rope_base = float(key("rope.freq_base", 10000.0))
        self.rope_freq_scale = 1.0
        if key("rope.scaling.type", "none") == "linear":
            self.rope_freq_scale = 1.0 / float(key("rope.scaling.factor", 1.0))
        self.neox = arch in NEOX_ARCHS


def rms_norm(x, weight, eps):
    """x: [..., n]; normalised over the last axis, then scaled by weight[n]."""
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def silu(x):
    return x / (1.0 + np.exp(-x))


def rope(x, positions, cfg, freq_factors):
    """Rotates x: [n_tok][n_heads][head_dim] in place of its first n_rot dims."""
    n_rot = cfg.n_rot
    half = n_rot // 2
    theta = cfg.rope_base ** (-2.0 * np.arange(half) / n_rot)          # [half]
    if freq_factors is not None:
        theta = theta / freq_factors
    angle = (positions[:, None] * cfg.rope_freq_scale) * theta[None, :]  # [n_tok][half]
    cos = np.cos(angle)[:, None, :]
    sin = np.sin(angle)[:, None, :]
    out = x.copy()
    if cfg.neox:
        a, b = x[..., 0:half], x[..., half:n_rot]
        out[..., 0:half] = a * cos - b * sin
        out[..., half:n_rot] = a * sin + b * cos
    else:
        a, b = x[..., 0:n_rot:2], x[..., 1:n_rot:2]
        out[..., 0:n_rot:2] = a * cos - b * sin
        out[..., 1:n_rot:2] = a * sin + b * cos
    return out


def _round_trip_q8(x, block, f16_scale):
    """x with each run of `block` values of a row rounded to 8 bits: scale amax/127
    (rounded to f16 for Q8_0), quants round-to-nearest-even of x * (1/scale) in
    float32, clamped to [-127, 127]."""
    xb = x.reshape(-1, block).astype(np.float32)
    d = np.abs(xb).max(axis=1, keepdims=True) / np.float32(127)
    if f16_scale:
        d = d.astype(np.float16).astype(np.float32)
    inv = np.float32(1) / np.where(d > 0, d, np.float32(1))
    q = np.where(d > 0, np.clip(np.rint(xb * inv), -127, 127), 0)
    return (q * d).reshape(x.shape).astype(np.float64)


class Model:
    """act_q8: round the input rows of every quantized matmul to 8 bits first, as
    llama.cpp does (Q8_0 blocks of 32 for Q8_0/Q4_0 weights, Q8_K blocks of 256 with
    a float scale for the K-quants); off, the reference is exact float64 math."""

    def __init__(self, gguf, act_q8=False, kv_f16=True, kv_q8=False):
        self.cfg = Config(gguf)
        self.gguf = gguf
        self.act_q8 = act_q8
        # The engine's KV cache stores keys and values as fp16 by default (--cache-type).
        self.kv_f16 = kv_f16
        # --cache-type q8_0: each key and value row kept as Q8_0 blocks (overrides kv_f16).
        self.kv_q8 = kv_q8
        self._cache = {}
        t = gguf.tensors
        self.tok_embd = self.w("token_embd.weight")                       # [n_vocab][n_embd]
        self.n_vocab = self.tok_embd.shape[0]
        self.output_name = "output.weight" if "output.weight" in t else "token_embd.weight"
        self.output_norm = self.w("output_norm.weight")
        self.freq_factors = self.w("rope_freqs.weight") if "rope_freqs.weight" in t else None
        self.keep_scores_layer = None  # when set, logits() keeps that layer's scaled scores
        self.kept_scores = None        # float64[n_head][n_q][n_k], -inf above the diagonal

    def w(self, name):
        if name not in self._cache:
            self._cache[name] = self.gguf.tensor(name).astype(np.float64)
        return self._cache[name]

    def linear(self, x, name):
        """x[n][in] times the weight matrix `name` ([out][in]) transposed: [n][out]."""
        if self.act_q8:
            wtype = self.gguf.tensors[name].type
            if wtype in (dequant.Q8_0, dequant.Q4_0):
                x = _round_trip_q8(x, 32, f16_scale=True)
            elif wtype in (dequant.Q4_K, dequant.Q5_K, dequant.Q6_K):
                x = _round_trip_q8(x, 256, f16_scale=False)
        return x @ self.w(name).T

    def opt(self, name):
        return self.w(name) if name in self.gguf.tensors else None

    def logits(self, tokens):
        """logits: float64[len(tokens)][n_vocab] for every position (causal)."""
        cfg = self.cfg
        n = len(tokens)
        pos = np.arange(n, dtype=np.float64)
        x = self.tok_embd[np.asarray(tokens)]                              # [n][n_embd]
        group = cfg.n_head // cfg.n_head_kv
        mask = np.triu(np.full((n, n), -np.inf), k=1)                      # [q][k]
        for il in range(cfg.n_layer):
            p = f"blk.{il}."
            h = rms_norm(x, self.w(p + "attn_norm.weight"), cfg.rms_eps)
            q = self.linear(h, p + "attn_q.weight")
            k = self.linear(h, p + "attn_k.weight")
            v = self.linear(h, p + "attn_v.weight")
            for name, t in (("attn_q.bias", q), ("attn_k.bias", k), ("attn_v.bias", v)):
                bias = self.opt(p + name)
                if bias is not None:
                    t += bias
            q = q.reshape(n, cfg.n_head, cfg.head_dim)
            k = k.reshape(n, cfg.n_head_kv, cfg.head_dim)
            v = v.reshape(n, cfg.n_head_kv, cfg.head_dim)
            q_norm, k_norm = self.opt(p + "attn_q_norm.weight"), self.opt(p + "attn_k_norm.weight")
            if q_norm is not None:
                q = rms_norm(q, q_norm, cfg.rms_eps)
            if k_norm is not None:
                k = rms_norm(k, k_norm, cfg.rms_eps)
            q = rope(q, pos, cfg, self.freq_factors)
            k = rope(k, pos, cfg, self.freq_factors)
            if self.kv_q8:
                k = _round_trip_q8(k.reshape(n, -1), 32, f16_scale=True).reshape(k.shape)
                v = _round_trip_q8(v.reshape(n, -1), 32, f16_scale=True).reshape(v.shape)
            elif self.kv_f16:
                k = k.astype(np.float32).astype(np.float16).astype(np.float64)
                v = v.astype(np.float32).astype(np.float16).astype(np.float64)
            k = np.repeat(k, group, axis=1)                                # [n][n_head][hd]
            v = np.repeat(v, group, axis=1)
            scores = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(cfg.head_dim) + mask
            if il == self.keep_scores_layer:
                self.kept_scores = scores.copy()
            scores -= scores.max(axis=-1, keepdims=True)
            prob = np.exp(scores)
            prob /= prob.sum(axis=-1, keepdims=True)
            attn = np.einsum("hqk,khd->qhd", prob, v).reshape(n, cfg.n_head * cfg.head_dim)
            x = x + self.linear(attn, p + "attn_output.weight")
            h = rms_norm(x, self.w(p + "ffn_norm.weight"), cfg.rms_eps)
            gate = self.linear(h, p + "ffn_gate.weight")
            up = self.linear(h, p + "ffn_up.weight")
            x = x + self.linear(silu(gate) * up, p + "ffn_down.weight")
        h = rms_norm(x, self.output_norm, cfg.rms_eps)
        return self.linear(h, self.output_name)

    def greedy(self, prompt, n_new):
        """Token ids of a greedy continuation of prompt (recomputes the prefix each step)."""
        tokens = list(prompt)
        out = []
        for _ in range(n_new):
            nxt = int(np.argmax(self.logits(tokens)[-1]))
            out.append(nxt)
            tokens.append(nxt)
        return out
