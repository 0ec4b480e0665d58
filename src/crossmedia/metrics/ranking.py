"""Ranking primitives for binary codes: binarisation, bit packing and Hamming distances.

Convention (METRICS.md): a real code is binarised with ``x >= 0 -> +1`` (never ``sign``, which
maps 0 to 0), and the Hamming distance of ±1 codes of b bits is ``H = (b - Bq @ Bd.T) / 2``.
The packed form (uint8, bit j of byte k holds code bit 8k+j) gives identical integers via a
popcount of XOR. numpy inputs give numpy outputs; torch tensors give tensors on their device.
"""

from __future__ import annotations

import numpy as np

from ._backend import is_torch, torch_module

_POP8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
_HAS_BITWISE_COUNT = hasattr(np, "bitwise_count")
_BLOCK = 1 << 22  # elements per block when filling a full (Q, N) matrix


def _as_2d(x, what: str):
    if x.ndim == 1:
        return x.reshape(1, -1)
    if x.ndim != 2:
        raise ValueError(f"{what}: expected a 2-D array (items x bits), got shape {tuple(x.shape)}")
    return x


def binarize(x):
    """±1 int8 codes from real values: ``x >= 0 -> +1``, else -1 (0 maps to +1, NaN to -1)."""
    if is_torch(x):
        torch = torch_module()
        return torch.where(x >= 0, 1, -1).to(torch.int8)
    a = np.asarray(x)
    return np.where(a >= 0, np.int8(1), np.int8(-1))


def pack_bits(B):
    """Pack codes (±1 or real; bit = ``x >= 0``) into uint8 of shape (N, ceil(b/8)).

    Bit j of byte k holds code bit 8k+j; padding bits are zero, so popcounts are unaffected.
    """
    if is_torch(B):
        torch = torch_module()
        B = _as_2d(B, "pack_bits")
        n, b = B.shape
        nb = (b + 7) // 8
        bits = torch.zeros((n, nb * 8), dtype=torch.uint8, device=B.device)
        bits[:, :b] = (B >= 0).to(torch.uint8)
        weights = torch.tensor([1 << j for j in range(8)], dtype=torch.int32, device=B.device)
        return (bits.view(n, nb, 8).to(torch.int32) * weights).sum(-1).to(torch.uint8)
    a = _as_2d(np.asarray(B), "pack_bits")
    return np.packbits(a >= 0, axis=1, bitorder="little")


def _check_pm1(B, what: str):
    if is_torch(B):
        ok = bool(((B == 1) | (B == -1)).all())
    else:
        ok = bool(np.isin(B, (-1, 1)).all())
    if not ok:
        raise ValueError(f"{what}: expected ±1 codes (use binarize(x) first: x >= 0 -> +1)")


def hamming_pm1(Bq, Bd):
    """Hamming distances (Q, N) int32 between ±1 codes: ``(b - Bq @ Bd.T) / 2``."""
    if is_torch(Bq) or is_torch(Bd):
        torch = torch_module()
        dev = Bq.device if is_torch(Bq) else Bd.device
        q = torch.as_tensor(Bq, device=dev)
        d = torch.as_tensor(Bd, device=dev)
        q, d = _as_2d(q, "hamming_pm1 queries"), _as_2d(d, "hamming_pm1 database")
        _check_pm1(q, "hamming_pm1 queries")
        _check_pm1(d, "hamming_pm1 database")
        if q.shape[1] != d.shape[1]:
            raise ValueError(f"hamming_pm1: code lengths differ ({q.shape[1]} vs {d.shape[1]})")
        b = q.shape[1]
        dt = torch.float32 if b < (1 << 24) else torch.float64
        s = q.to(dt) @ d.to(dt).T
        return torch.round((b - s) * 0.5).to(torch.int32)
    q = _as_2d(np.asarray(Bq), "hamming_pm1 queries")
    d = _as_2d(np.asarray(Bd), "hamming_pm1 database")
    _check_pm1(q, "hamming_pm1 queries")
    _check_pm1(d, "hamming_pm1 database")
    if q.shape[1] != d.shape[1]:
        raise ValueError(f"hamming_pm1: code lengths differ ({q.shape[1]} vs {d.shape[1]})")
    b = q.shape[1]
    dt = np.float32 if b < (1 << 24) else np.float64
    qf, df = q.astype(dt), d.astype(dt)
    out = np.empty((q.shape[0], d.shape[0]), dtype=np.int32)
    step = max(1, _BLOCK // max(1, d.shape[0]))
    for s in range(0, q.shape[0], step):
        out[s : s + step] = np.rint((b - qf[s : s + step] @ df.T) * 0.5)
    return out


def packed_words(P) -> np.ndarray:
    """uint8 packed codes (N, nb) -> uint64 words (N, ceil(nb/8)), zero padded (numpy)."""
    P = np.ascontiguousarray(_as_2d(np.asarray(P), "packed codes"))
    if P.dtype != np.uint8:
        raise ValueError(f"packed codes must be uint8, got {P.dtype}")
    n, nb = P.shape
    nw = max(1, (nb + 7) // 8)
    if nb != nw * 8:
        Pp = np.zeros((n, nw * 8), dtype=np.uint8)
        Pp[:, :nb] = P
        P = Pp
    return P.view(np.uint64).reshape(n, nw)


def popcount_xor(Wq: np.ndarray, WdT: np.ndarray, n_bits: int) -> np.ndarray:
    """Distances (len(Wq), N) between uint64 words Wq (Q, W) and WdT (W, N) (database words
    transposed, contiguous), in the smallest unsigned dtype. Row by row with one reused buffer:
    the XOR stays in cache."""
    dt = np.uint8 if n_bits < 256 else (np.uint16 if n_bits < 65536 else np.uint32)
    nq, (nw, nd) = Wq.shape[0], WdT.shape
    out = np.zeros((nq, nd), dtype=dt)
    buf = np.empty(nd, dtype=np.uint64)
    for i in range(nq):
        for w in range(nw):
            np.bitwise_xor(WdT[w], Wq[i, w], out=buf)
            if not _HAS_BITWISE_COUNT:  # numpy < 2.0: 256-entry table over the bytes
                out[i] += _POP8[buf.view(np.uint8)].reshape(nd, 8).sum(1, dtype=dt)
            elif nw == 1 and dt == np.uint8:
                np.bitwise_count(buf, out=out[i])
            else:
                out[i] += np.bitwise_count(buf)
    return out


def hamming_packed(Pq, Pd):
    """Hamming distances (Q, N) int32 between packed uint8 codes: popcount(Pq XOR Pd).

    Identical integers to :func:`hamming_pm1` on the unpacked codes.
    """
    if is_torch(Pq) or is_torch(Pd):
        torch = torch_module()
        dev = Pq.device if is_torch(Pq) else Pd.device
        q = _as_2d(torch.as_tensor(Pq, device=dev), "hamming_packed queries")
        d = _as_2d(torch.as_tensor(Pd, device=dev), "hamming_packed database")
        if q.dtype != torch.uint8 or d.dtype != torch.uint8:
            raise ValueError("hamming_packed: packed codes must be uint8")
        if q.shape[1] != d.shape[1]:
            raise ValueError(f"hamming_packed: byte lengths differ ({q.shape[1]} vs {d.shape[1]})")
        table = torch.as_tensor(_POP8, device=dev).to(torch.int32)
        out = torch.empty((q.shape[0], d.shape[0]), dtype=torch.int32, device=dev)
        step = max(1, _BLOCK // max(1, d.shape[0] * q.shape[1]))
        for s in range(0, q.shape[0], step):
            x = torch.bitwise_xor(q[s : s + step, None, :], d[None, :, :])
            out[s : s + step] = table[x.long()].sum(-1)
        return out
    q, d = np.asarray(Pq), np.asarray(Pd)
    if q.dtype != np.uint8 or d.dtype != np.uint8:
        raise ValueError("hamming_packed: packed codes must be uint8")
    q, d = _as_2d(q, "hamming_packed queries"), _as_2d(d, "hamming_packed database")
    if q.shape[1] != d.shape[1]:
        raise ValueError(f"hamming_packed: byte lengths differ ({q.shape[1]} vs {d.shape[1]})")
    Wq, WdT = packed_words(q), np.ascontiguousarray(packed_words(d).T)
    out = np.empty((q.shape[0], d.shape[0]), dtype=np.int32)
    step = max(1, _BLOCK // max(1, d.shape[0]))
    for s in range(0, q.shape[0], step):
        out[s : s + step] = popcount_xor(Wq[s : s + step], WdT, 8 * q.shape[1])
    return out
