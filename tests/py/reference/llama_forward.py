"""Forward pass of the llama family (llama, qwen2, qwen3, gemma2, gemma3, phi3) in
numpy, float64.

Reads hyperparameters with llama.cpp's metadata keys and tensors with llama.cpp's
names from a GGUFFile, and returns the logits of every position of a token list.
The differences between the architectures:
  llama  rope "normal": rotates interleaved pairs (2i, 2i+1); optional Llama-3
         frequency factors (rope_freqs.weight) and linear rope scaling.
  qwen2  biases on the q, k, v projections; rope "neox": pairs (i, i + n_rot/2).
  qwen3  RMSNorm over each head of q and k (attn_q_norm/attn_k_norm) before rope; neox.
  gemma2 embeddings times sqrt(n_embd); RMSNorm also after attention and after the
         feed-forward (post_attention_norm, post_ffw_norm); gelu(gate) * up with GELU's
         tanh form; queries scaled by 1/sqrt(head_dim) (1/sqrt(n_embd/n_head) with 46
         layers); scores and logits soft-capped, cap * tanh(x / cap); a sliding window
         (query q sees key k when q - k < window) on the layers the pattern picks (a
         period p windows layer l unless l % p == p - 1); neox.
  gemma3 gemma2's layer with q/k head norms, no soft-capping by default, the windowed
         layers rotated with base rope.freq_base_swa (10000) and no rope scaling.
  qwen3moe  qwen3's attention; the feed-forward a mixture of expert_count experts: the
         router ffn_gate_inp's softmax over the experts, the expert_used_count most
         probable taken with their probabilities divided by their sum, each expert
         down(silu(gate x) * up x) from the 3-D ffn_{gate,up,down}_exps.
  phi3   one attn_qkv matrix (q, k, v rows in turn) and one ffn_up (gate rows, then up);
         rope over rope.dimension_count dims with divisors rope_factors_long (context
         beyond rope.scaling.original_context_length) or rope_factors_short, cos and sin
         times rope.scaling.attn_factor; neox.
The output projection is token_embd when output.weight is absent (tied).
"""
import numpy as np

from . import dequant

NEOX_ARCHS = {"qwen2", "qwen3", "qwen3moe", "gemma2", "gemma3", "phi3"}
SUPPORTED_ARCHS = {"llama", "qwen2", "qwen3", "qwen3moe", "gemma2", "gemma3", "phi3"}
GEMMA_ARCHS = {"gemma2", "gemma3"}


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
        self.n_ctx_train = int(key("context_length", 2048))
        self.gemma = arch in GEMMA_ARCHS
        self.attn_scale = 1.0 / np.sqrt(self.head_dim)
        self.attn_softcap = self.final_softcap = 0.0
        self.window = 0
        self.windowed = [False] * self.n_layer
        self.rope_base_swa, self.rope_freq_scale_swa = self.rope_base, self.rope_freq_scale
        if self.gemma:
            big = 46 if arch == "gemma2" else 62  # the 27B models' layer counts
            if self.n_layer == big:
                self.attn_scale = 1.0 / np.sqrt(self.n_embd // self.n_head)
            if arch == "gemma2":
                self.attn_softcap = float(key("attn_logit_softcapping", 50.0))
                self.final_softcap = float(key("final_logit_softcapping", 30.0))
                self.window = int(key("attention.sliding_window", 4096))
                period = int(key("attention.sliding_window_pattern", 2))
                self.rope_base_swa = float(key("rope.freq_base_swa", self.rope_base))
            else:
                self.final_softcap = float(key("final_logit_softcapping", 0.0))
                self.window = int(key("attention.sliding_window", 0))
                period = int(key("attention.sliding_window_pattern", 6))
                self.rope_base_swa = float(key("rope.freq_base_swa", 10000.0))
                self.rope_freq_scale_swa = 1.0
            if self.window > 0:
                self.windowed = [period == 0 or il % period < period - 1 for il in range(self.n_layer)]
        self.n_expert = int(key("expert_count", 0)) if arch == "qwen3moe" else 0
        if self.n_expert:
            self.n_expert_used = int(key("expert_used_count"))
        self.rope_orig_ctx = int(key("rope.scaling.original_context_length", self.n_ctx_train))
        self.rope_attn_factor = float(key("rope.scaling.attn_factor", 1.0))


def rms_norm(x, weight, eps):
    """x: [..., n]; normalised over the last axis, then scaled by weight[n]."""
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def silu(x):
    return x / (1.0 + np.exp(-x))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


def soft_cap(x, cap):
    return cap * np.tanh(x / cap) if cap > 0 else x


def rope(x, positions, cfg, freq_factors, base=None, freq_scale=None, mscale=1.0):
    """Rotates x: [n_tok][n_heads][head_dim] in place of its first n_rot dims; base and
    freq_scale default to the config's, mscale scales cos and sin."""
    n_rot = cfg.n_rot
    half = n_rot // 2
    base = cfg.rope_base if base is None else base
    freq_scale = cfg.rope_freq_scale if freq_scale is None else freq_scale
    theta = base ** (-2.0 * np.arange(half) / n_rot)                   # [half]
    if freq_factors is not None:
        theta = theta / freq_factors
    angle = (positions[:, None] * freq_scale) * theta[None, :]         # [n_tok][half]
    cos = np.cos(angle)[:, None, :] * mscale
    sin = np.sin(angle)[:, None, :] * mscale
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

    def __init__(self, gguf, act_q8=False, kv_f16=True, kv_q8=False, n_ctx=None):
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
        # phi3 long-rope: the long divisors when the context (the engine's default: the
        # training context up to 4096) exceeds the original one.
        n_ctx = n_ctx if n_ctx is not None else min(self.cfg.n_ctx_train, 4096)
        long_name = "rope_factors_long.weight" if n_ctx > self.cfg.rope_orig_ctx else "rope_factors_short.weight"
        if long_name in t:
            self.freq_factors = self.w(long_name)
        self.keep_scores_layer = None  # when set, logits() keeps that layer's scaled scores
        self.kept_scores = None        # float64[n_head][n_q][n_k], -inf above the diagonal

    def w(self, name):
        if name not in self._cache:
            self._cache[name] = self.gguf.tensor(name).astype(np.float64)
        return self._cache[name]

    def linear(self, x, name, rows=None):
        """x[n][in] times the weight matrix `name` ([out][in]) transposed: [n][out];
        rows=(first, count) takes those rows of a fused matrix."""
        x = self.rounded_input(x, name)
        w = self.w(name)
        if rows is not None:
            w = w[rows[0]:rows[0] + rows[1]]
        return x @ w.T

    def rounded_input(self, x, name):
        """x as the matmul with weight `name` sees it (rounded to 8 bits under act_q8)."""
        if self.act_q8:
            wtype = self.gguf.tensors[name].type
            if wtype in (dequant.Q8_0, dequant.Q4_0):
                return _round_trip_q8(x, 32, f16_scale=True)
            if wtype in (dequant.Q4_K, dequant.Q5_K, dequant.Q6_K):
                return _round_trip_q8(x, 256, f16_scale=False)
        return x

    def opt(self, name):
        return self.w(name) if name in self.gguf.tensors else None

    def logits(self, tokens):
        """logits: float64[len(tokens)][n_vocab] for every position (causal)."""
        cfg = self.cfg
        n = len(tokens)
        pos = np.arange(n, dtype=np.float64)
        x = self.tok_embd[np.asarray(tokens)]                              # [n][n_embd]
        if cfg.gemma:
            x = x * np.sqrt(cfg.n_embd)
        group = cfg.n_head // cfg.n_head_kv
        causal = np.triu(np.full((n, n), -np.inf), k=1)                    # [q][k]
        distance = np.arange(n)[:, None] - np.arange(n)[None, :]           # q - k
        q_dim, kv_dim = cfg.n_head * cfg.head_dim, cfg.n_head_kv * cfg.head_dim
        for il in range(cfg.n_layer):
            p = f"blk.{il}."
            mask = causal
            if cfg.windowed[il]:
                mask = np.where(distance >= cfg.window, -np.inf, causal)
            h = rms_norm(x, self.w(p + "attn_norm.weight"), cfg.rms_eps)
            if p + "attn_qkv.weight" in self.gguf.tensors:
                q = self.linear(h, p + "attn_qkv.weight", (0, q_dim))
                k = self.linear(h, p + "attn_qkv.weight", (q_dim, kv_dim))
                v = self.linear(h, p + "attn_qkv.weight", (q_dim + kv_dim, kv_dim))
            else:
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
            if cfg.windowed[il]:
                rope_args = dict(base=cfg.rope_base_swa, freq_scale=cfg.rope_freq_scale_swa)
            else:
                rope_args = dict(mscale=cfg.rope_attn_factor)
            q = rope(q, pos, cfg, None if cfg.windowed[il] else self.freq_factors, **rope_args)
            k = rope(k, pos, cfg, None if cfg.windowed[il] else self.freq_factors, **rope_args)
            if self.kv_q8:
                k = _round_trip_q8(k.reshape(n, -1), 32, f16_scale=True).reshape(k.shape)
                v = _round_trip_q8(v.reshape(n, -1), 32, f16_scale=True).reshape(v.shape)
            elif self.kv_f16:
                k = k.astype(np.float32).astype(np.float16).astype(np.float64)
                v = v.astype(np.float32).astype(np.float16).astype(np.float64)
            k = np.repeat(k, group, axis=1)                                # [n][n_head][hd]
            v = np.repeat(v, group, axis=1)
            scores = soft_cap(np.einsum("qhd,khd->hqk", q, k) * cfg.attn_scale, cfg.attn_softcap) + mask
            if il == self.keep_scores_layer:
                self.kept_scores = scores.copy()
            scores -= scores.max(axis=-1, keepdims=True)
            prob = np.exp(scores)
            prob /= prob.sum(axis=-1, keepdims=True)
            attn = np.einsum("hqk,khd->qhd", prob, v).reshape(n, cfg.n_head * cfg.head_dim)
            out = self.linear(attn, p + "attn_output.weight")
            if cfg.gemma:
                out = rms_norm(out, self.w(p + "post_attention_norm.weight"), cfg.rms_eps)
            x = x + out
            h = rms_norm(x, self.w(p + "ffn_norm.weight"), cfg.rms_eps)
            if cfg.n_expert:
                x = x + self.experts(h, p)
                continue
            if p + "ffn_gate.weight" in self.gguf.tensors:
                gate = self.linear(h, p + "ffn_gate.weight")
                up = self.linear(h, p + "ffn_up.weight")
            else:
                gate = self.linear(h, p + "ffn_up.weight", (0, cfg.n_ff))
                up = self.linear(h, p + "ffn_up.weight", (cfg.n_ff, cfg.n_ff))
            act = gelu_tanh(gate) if cfg.gemma else silu(gate)
            out = self.linear(act * up, p + "ffn_down.weight")
            if cfg.gemma:
                out = rms_norm(out, self.w(p + "post_ffw_norm.weight"), cfg.rms_eps)
            x = x + out
        h = rms_norm(x, self.output_norm, cfg.rms_eps)
        return soft_cap(self.linear(h, self.output_name), cfg.final_softcap)

    def experts(self, h, p):
        """The mixture-of-experts feed-forward of h: [n][n_embd]."""
        cfg = self.cfg
        logits = self.linear(h, p + "ffn_gate_inp.weight")                # [n][n_expert]
        prob = np.exp(logits - logits.max(axis=1, keepdims=True))
        prob /= prob.sum(axis=1, keepdims=True)
        out = np.zeros_like(h)
        gate_w, up_w, down_w = (self.w(p + f"ffn_{n}_exps.weight") for n in ("gate", "up", "down"))
        for t in range(len(h)):
            chosen = np.argsort(-prob[t], kind="stable")[:cfg.n_expert_used]
            weights = prob[t][chosen] / prob[t][chosen].sum()
            for e, wt in zip(chosen, weights):
                x = h[t:t + 1]
                gate = self.expert_linear(x, p + "ffn_gate_exps.weight", gate_w[e])
                up = self.expert_linear(x, p + "ffn_up_exps.weight", up_w[e])
                out[t] += wt * self.expert_linear(silu(gate) * up, p + "ffn_down_exps.weight", down_w[e])[0]
        return out

    def expert_linear(self, x, name, w):
        """x times one expert's matrix w ([out][in]) of the 3-D tensor `name`."""
        x = self.rounded_input(x, name)
        return x @ w.T

    def greedy(self, prompt, n_new):
        """Token ids of a greedy continuation of prompt (recomputes the prefix each step)."""
        tokens = list(prompt)
        out = []
        for _ in range(n_new):
            nxt = int(np.argmax(self.logits(tokens)[-1]))
            out.append(nxt)
            tokens.append(nxt)
        return out
