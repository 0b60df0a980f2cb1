"""The demo model: a small llama (RMSNorm, RoPE, SwiGLU, grouped-query attention) in PyTorch.

RoPE rotates interleaved pairs (2i, 2i+1) of each head, as Meta's llama and
llama.cpp's "normal" rope do, so the Q/K weights are exported to GGUF unchanged.
Weights are stored as nn.Linear [out, in]; GGUF's ne[0] is the input dimension,
so the row-major bytes are written as they are.
"""
import math
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Config:
    vocab_size: int = 629
    dim: int = 256          # embedding_length
    n_layers: int = 6       # block_count
    n_heads: int = 8        # attention.head_count
    n_kv_heads: int = 4     # attention.head_count_kv
    hidden_dim: int = 688   # feed_forward_length
    max_seq_len: int = 256  # context_length
    norm_eps: float = 1e-5  # attention.layer_norm_rms_epsilon
    rope_theta: float = 10000.0
    tie_embeddings: bool = False

    def to_dict(self):
        return asdict(self)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(head_dim, seq_len, theta):
    """cos, sin: [seq_len, head_dim/2]; pair i rotates by pos * theta^(-2i/head_dim)."""
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    ang = torch.arange(seq_len, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cos(ang).float(), torch.sin(ang).float()


def apply_rope(x, cos, sin):
    """x: [B, H, T, head_dim]; rotates the pairs (x[2i], x[2i+1])."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    r0 = x0 * cos - x1 * sin
    r1 = x0 * sin + x1 * cos
    return torch.stack((r0, r1), dim=-1).flatten(-2)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.n_heads, self.n_kv = c.n_heads, c.n_kv_heads
        self.hd = c.dim // c.n_heads
        self.wq = nn.Linear(c.dim, c.n_heads * self.hd, bias=False)
        self.wk = nn.Linear(c.dim, c.n_kv_heads * self.hd, bias=False)
        self.wv = nn.Linear(c.dim, c.n_kv_heads * self.hd, bias=False)
        self.wo = nn.Linear(c.n_heads * self.hd, c.dim, bias=False)

    def forward(self, x, cos, sin, mask, cache=None):
        """cache: None, or a list [k, v] of earlier positions ([B, n_kv, T0, hd]) that is extended."""
        B, T, _ = x.shape
        q = self.wq(x).view(B, T, self.n_heads, self.hd).transpose(1, 2)
        k = self.wk(x).view(B, T, self.n_kv, self.hd).transpose(1, 2)
        v = self.wv(x).view(B, T, self.n_kv, self.hd).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            if cache[0] is not None:
                k = torch.cat([cache[0], k], 2)
                v = torch.cat([cache[1], v], 2)
            cache[0], cache[1] = k, v
        rep = self.n_heads // self.n_kv   # query head h uses kv head h // rep, as llama.cpp
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(self.hd)
        att = att.masked_fill(mask, float("-inf"))
        y = F.softmax(att, dim=-1) @ v
        return self.wo(y.transpose(1, 2).reshape(B, T, -1))


class FeedForward(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.w1 = nn.Linear(c.dim, c.hidden_dim, bias=False)  # gate
        self.w3 = nn.Linear(c.dim, c.hidden_dim, bias=False)  # up
        self.w2 = nn.Linear(c.hidden_dim, c.dim, bias=False)  # down

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention_norm = RMSNorm(c.dim, c.norm_eps)
        self.attention = Attention(c)
        self.ffn_norm = RMSNorm(c.dim, c.norm_eps)
        self.feed_forward = FeedForward(c)

    def forward(self, x, cos, sin, mask, cache=None):
        x = x + self.attention(self.attention_norm(x), cos, sin, mask, cache)
        return x + self.feed_forward(self.ffn_norm(x))


class Transformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.tok_embeddings = nn.Embedding(c.vocab_size, c.dim)
        self.layers = nn.ModuleList(Block(c) for _ in range(c.n_layers))
        self.norm = RMSNorm(c.dim, c.norm_eps)
        self.output = nn.Linear(c.dim, c.vocab_size, bias=False)
        if c.tie_embeddings:
            self.output.weight = self.tok_embeddings.weight
        cos, sin = rope_tables(c.dim // c.n_heads, c.max_seq_len, c.rope_theta)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.apply(self._init)
        for n, p in self.named_parameters():   # GPT-2 style scaled init of residual projections
            if n.endswith("wo.weight") or n.endswith("w2.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * c.n_layers))

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)

    def forward(self, tokens, start_pos=0, cache=None):
        """tokens: [B, T] at positions start_pos.. -> logits [B, T, vocab].
        cache: None, or one [k, v] list per layer (filled by the first call)."""
        T = tokens.shape[1]
        x = self.tok_embeddings(tokens)
        mask = torch.triu(torch.ones(T, start_pos + T, dtype=torch.bool, device=tokens.device),
                          start_pos + 1)
        cos, sin = self.cos[start_pos:start_pos + T], self.sin[start_pos:start_pos + T]
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, mask, None if cache is None else cache[i])
        return self.output(self.norm(x))

    def n_params(self):
        return sum(p.numel() for p in self.parameters())

    @torch.no_grad()
    def generate_greedy(self, prompts, max_new, stop_id):
        """prompts: list of token lists (already with BOS). Returns new token lists, cut at stop_id
        (the stop token included). Prompts of the same length are decoded together with a KV cache."""
        return self.generate(prompts, max_new, stop_id)

    @torch.no_grad()
    def generate(self, prompts, max_new, stop_id, temperature=0.0, generator=None):
        """generate_greedy, or with temperature > 0 plain sampling from softmax(logits / temperature)
        (no top-k or top-p), drawn with `generator`."""
        dev = self.tok_embeddings.weight.device
        out = [None] * len(prompts)
        by_len = {}
        for i, p in enumerate(prompts):
            by_len.setdefault(len(p), []).append(i)
        for L, idx in by_len.items():
            cache = [[None, None] for _ in self.layers]
            logits = self(torch.tensor([prompts[i] for i in idx], device=dev), 0, cache)
            pos = L
            done = torch.zeros(len(idx), dtype=torch.bool, device=dev)
            gen = []
            for _ in range(max_new):
                last = logits[:, -1].float()
                if temperature > 0:
                    probs = torch.softmax(last / temperature, -1)
                    nxt = torch.multinomial(probs, 1, generator=generator)[:, 0]
                else:
                    nxt = last.argmax(-1)
                gen.append(nxt)
                done |= nxt == stop_id
                if bool(done.all()) or pos >= self.config.max_seq_len:
                    break
                logits = self(nxt[:, None], pos, cache)
                pos += 1
            g = torch.stack(gen, 1).tolist() if gen else [[] for _ in idx]
            for j, i in enumerate(idx):
                seq = g[j]
                if stop_id in seq:
                    seq = seq[:seq.index(stop_id) + 1]
                out[i] = seq
        return out
