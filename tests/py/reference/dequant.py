"""Dequantizers for GGML tensor types, written from the GGML block layouts.

Each takes the raw bytes (uint8 array) of n elements and returns float32[n].
Block layouts (little endian, f16 = IEEE half):
  Q8_0  32 elems, 34 bytes: f16 d; int8 qs[32]                 x = d*q
  Q4_0  32 elems, 18 bytes: f16 d; u8 qs[16]                   x[j] = d*((qs[j]&15)-8), x[j+16] = d*((qs[j]>>4)-8)
  Q4_K 256 elems, 144 bytes: f16 d, dmin; u8 scales[12]; u8 qs[128]
  Q5_K 256 elems, 176 bytes: f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]
  Q6_K 256 elems, 210 bytes: u8 ql[128]; u8 qh[64]; int8 scales[16]; f16 d
"""
import numpy as np

F32, F16, Q4_0, Q8_0, Q4_K, Q5_K, Q6_K, BF16 = 0, 1, 2, 8, 12, 13, 14, 30

# type -> (elements per block, bytes per block)
BLOCK = {
    F32: (1, 4), F16: (1, 2), BF16: (1, 2),
    Q8_0: (32, 34), Q4_0: (32, 18),
    Q4_K: (256, 144), Q5_K: (256, 176), Q6_K: (256, 210),
}

NAMES = {F32: "f32", F16: "f16", BF16: "bf16", Q8_0: "q8_0", Q4_0: "q4_0",
         Q4_K: "q4_K", Q5_K: "q5_K", Q6_K: "q6_K"}


def nbytes(ggml_type, n):
    if ggml_type not in BLOCK:
        raise ValueError(f"GGML type {ggml_type} not supported by the reference")
    elems, size = BLOCK[ggml_type]
    if n % elems:
        raise ValueError(f"{n} elements is not a multiple of the block size {elems}")
    return n // elems * size


def _f16(blocks, start):
    """The f16 at byte `start` of every block, as float32[n_blocks]."""
    return blocks[:, start:start + 2].copy().view(np.float16)[:, 0].astype(np.float32)


def _k_scales_mins(scales):
    """Unpacks the 12-byte 6-bit scales/mins of Q4_K/Q5_K: uint8[nb][12] -> two [nb][8]."""
    q = scales.astype(np.uint8)
    sc = np.empty((q.shape[0], 8), np.uint8)
    mn = np.empty((q.shape[0], 8), np.uint8)
    sc[:, :4] = q[:, 0:4] & 63
    mn[:, :4] = q[:, 4:8] & 63
    sc[:, 4:] = (q[:, 8:12] & 0xF) | ((q[:, 0:4] >> 6) << 4)
    mn[:, 4:] = (q[:, 8:12] >> 4) | ((q[:, 4:8] >> 6) << 4)
    return sc.astype(np.float32), mn.astype(np.float32)


def _q8_0(b):
    d = _f16(b, 0)
    q = b[:, 2:34].view(np.int8).astype(np.float32)
    return d[:, None] * q


def _q4_0(b):
    d = _f16(b, 0)
    qs = b[:, 2:18]
    q = np.concatenate([qs & 0xF, qs >> 4], axis=1).astype(np.float32) - 8.0
    return d[:, None] * q


def _q4_k(b):
    d, dmin = _f16(b, 0), _f16(b, 2)
    sc, mn = _k_scales_mins(b[:, 4:16])
    qs = b[:, 16:144].reshape(-1, 4, 32)               # 4 chunks of 32 bytes = 64 elems
    # sub-block 2c takes the low nibbles of chunk c, sub-block 2c+1 the high nibbles
    q = np.stack([qs & 0xF, qs >> 4], axis=2).reshape(-1, 8, 32).astype(np.float32)
    y = (d[:, None] * sc)[:, :, None] * q - (dmin[:, None] * mn)[:, :, None]
    return y.reshape(-1, 256)


def _q5_k(b):
    d, dmin = _f16(b, 0), _f16(b, 2)
    sc, mn = _k_scales_mins(b[:, 4:16])
    qh = b[:, 16:48]                                    # [nb][32]: bit s = high bit of sub-block s
    qs = b[:, 48:176].reshape(-1, 4, 32)
    low = np.stack([qs & 0xF, qs >> 4], axis=2).reshape(-1, 8, 32)
    high = np.stack([(qh >> s) & 1 for s in range(8)], axis=1)   # [nb][8][32]
    q = (low | (high << 4)).astype(np.float32)
    y = (d[:, None] * sc)[:, :, None] * q - (dmin[:, None] * mn)[:, :, None]
    return y.reshape(-1, 256)


def _q6_k(b):
    ql = b[:, 0:128].reshape(-1, 2, 64)                 # per half of 128 elems: 64 bytes
    qh = b[:, 128:192].reshape(-1, 2, 32)               # per half: 32 bytes
    sc = b[:, 192:208].view(np.int8).astype(np.float32).reshape(-1, 2, 8)
    d = _f16(b, 208)
    lo = [ql[:, :, 0:32] & 0xF, ql[:, :, 32:64] & 0xF, ql[:, :, 0:32] >> 4, ql[:, :, 32:64] >> 4]
    q = np.stack([(lo[k] | (((qh >> (2 * k)) & 3) << 4)) for k in range(4)], axis=2)
    q = q.astype(np.float32) - 32.0                      # [nb][2][4][32]: element 128h + 32k + l
    # scale index within the half: 2k + l//16
    s = sc.reshape(-1, 2, 4, 2)[:, :, :, :, None]       # [nb][2][4][2][1]
    y = d[:, None, None, None, None] * s * q.reshape(-1, 2, 4, 2, 16)
    return y.reshape(-1, 256)


_BLOCK_FN = {Q8_0: _q8_0, Q4_0: _q4_0, Q4_K: _q4_k, Q5_K: _q5_k, Q6_K: _q6_k}


def dequantize(ggml_type, raw, n):
    raw = np.ascontiguousarray(raw, dtype=np.uint8)
    if ggml_type == F32:
        return raw.view(np.float32)[:n].copy()
    if ggml_type == F16:
        return raw.view(np.float16)[:n].astype(np.float32)
    if ggml_type == BF16:
        return (raw.view(np.uint16)[:n].astype(np.uint32) << 16).view(np.float32)
    if ggml_type not in _BLOCK_FN:
        raise ValueError(f"GGML type {ggml_type} not supported by the reference")
    elems, size = BLOCK[ggml_type]
    blocks = raw[:n // elems * size].reshape(-1, size)
    return _BLOCK_FN[ggml_type](blocks).reshape(-1).astype(np.float32)
