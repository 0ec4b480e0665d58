"""Top-k selection that stays on the torch device (CPU or CUDA): scores are produced chunk by
chunk, each chunk's best ``k`` are selected with ``torch.topk`` and merged into a running
``(Q, k)`` list on the same device; only the final ``(Q, k)`` scores and rows reach the host.

The result follows the engines' tie policy exactly (score descending, then row ascending; see
:mod:`.base`): ``torch.topk`` picks an arbitrary subset of items tied at the k-th place, so a
chunk where ties straddle the boundary is reselected on packed 64-bit keys
``(order-preserving score bits << 32) | (2³² − 1 − row)``, whose order *is* the tie policy.
"""

from __future__ import annotations

import numpy as np
import torch

from .base import top_k

__all__ = ["RunningTopK", "order_by_score_then_row", "score_keys", "decode_keys", "to_host", "resolve_devices"]

_LOW = 0xFFFFFFFF
#: the key of "no item" (padding): below every real key
KEY_NONE = -(1 << 63)


def score_keys(scores: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """int64 keys whose signed order is (score desc, row asc) read as "larger key = better":
    the float32 score mapped to an order-preserving int32 in the high half, ``2³²−1−row`` in
    the low half (rows < 2³²). ``-0.0`` is folded into ``+0.0`` first."""
    bits = (scores.float() + 0.0).view(torch.int32)
    ordered = torch.where(bits < 0, bits ^ 0x7FFFFFFF, bits).to(torch.int64)
    return (ordered << 32) | (_LOW - rows.to(torch.int64))


def decode_keys(keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of :func:`score_keys`: (scores float32, rows int64); :data:`KEY_NONE` decodes to
    (−inf, −1)."""
    none = keys == KEY_NONE
    ordered = (keys >> 32).to(torch.int32)
    bits = torch.where(ordered < 0, ordered ^ 0x7FFFFFFF, ordered)
    scores = bits.view(torch.float32).clone()
    rows = _LOW - (keys & _LOW)
    scores[none] = float("-inf")
    rows[none] = -1
    return scores, rows


def order_by_score_then_row(s: torch.Tensor, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sort each row of (Q, n) scores/rows by (score desc, row asc); missing rows (−1) last."""
    key_r = torch.where(r < 0, torch.iinfo(torch.int64).max, r)
    o = torch.argsort(key_r, dim=1)
    s, r = s.gather(1, o), r.gather(1, o)
    o = torch.argsort(s, dim=1, descending=True, stable=True)
    return s.gather(1, o), r.gather(1, o)


def _chunk_topk(scores: torch.Tensor, k: int, host: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The exact best ``k`` columns of a (Q, n) score block (k ≤ n), as (values, local columns);
    ``host``: select with numpy (CPU tensors: their memory is the host's already)."""
    if host:
        sel = [top_k(row, k) for row in scores.numpy()]
        return (torch.from_numpy(np.stack([s for s, _ in sel])), torch.from_numpy(np.stack([r for _, r in sel])))
    v, i = torch.topk(scores, k, dim=1, sorted=False)
    kth = v.min(dim=1, keepdim=True).values
    # ties straddling the k-th place: topk's pick among them is arbitrary → reselect on keys
    if bool(((scores == kth).sum(1) > (v == kth).sum(1)).any()):
        cols = torch.arange(scores.shape[1], device=scores.device).expand_as(scores)
        keys = torch.topk(score_keys(scores, cols), k, dim=1, sorted=False).values
        v, i = decode_keys(keys)
    return v, i


class RunningTopK:
    """Best ``k`` of a stream of (Q, n_chunk) score blocks, kept on the blocks' device.
    ``host_select``: select each block with numpy instead of ``torch.topk`` (default: for CPU
    tensors, where numpy's partition is the faster; the result is the same)."""

    def __init__(self, k: int, host_select: bool | None = None):
        self.k = int(k)
        self.host_select = host_select
        self.s: torch.Tensor | None = None
        self.r: torch.Tensor | None = None

    def push(self, scores: torch.Tensor, offset: int) -> None:
        """Add a block whose column j is database row ``offset + j``."""
        kk = min(self.k, scores.shape[1])
        if kk <= 0:
            return
        host = scores.device.type == "cpu" if self.host_select is None else bool(self.host_select)
        v, i = _chunk_topk(scores, kk, host)
        i = i.to(torch.int64) + int(offset)
        self.push_candidates(v, i)

    def push_candidates(self, v: torch.Tensor, r: torch.Tensor) -> None:
        """Add already-selected candidates (scores, global rows), e.g. another shard's top-k."""
        if self.s is None:
            self.s, self.r = v, r
        else:
            self.s, self.r = torch.cat([self.s, v.to(self.s.device)], 1), torch.cat([self.r, r.to(self.r.device)], 1)
        if self.s.shape[1] > self.k:
            s, r = order_by_score_then_row(self.s, self.r)
            self.s, self.r = s[:, : self.k], r[:, : self.k]

    def result(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(scores, rows) ordered best first, still on the device; None if nothing was pushed."""
        if self.s is None:
            return None
        return order_by_score_then_row(self.s, self.r)


def to_host(res: tuple[torch.Tensor, torch.Tensor] | None, nq: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Device top-k → the engines' host arrays: (Q, k) float32 scores and int64 rows, padded
    with (−inf, −1) where fewer than ``k`` items exist."""
    out_s = np.full((nq, k), -np.inf, dtype=np.float32)
    out_r = np.full((nq, k), -1, dtype=np.int64)
    if res is not None:
        s, r = res
        n = min(k, s.shape[1])
        out_s[:, :n] = s[:, :n].float().cpu().numpy()
        out_r[:, :n] = r[:, :n].cpu().numpy()
    return out_s, out_r


def resolve_devices(spec: str) -> list[str]:
    """Devices named by a ``--device`` value: ``cpu``; ``cuda`` (every visible GPU, one shard
    each); ``cuda:N``; ``cuda:0,2`` (those GPUs); ``cpu*N`` (N CPU shards, for tests). Raises
    ValueError with the expected forms on anything else, or when CUDA is asked for and absent."""
    import re

    spec = str(spec).strip()
    if spec == "cpu":
        return ["cpu"]
    m = re.fullmatch(r"cpu\*(\d+)", spec)
    if m and 1 <= int(m.group(1)) <= 64:
        return ["cpu"] * int(m.group(1))
    m = re.fullmatch(r"cuda(?::(\d+(?:,\d+)*))?", spec)
    if not m:
        raise ValueError(f"device {spec!r}: expected cpu, cuda, cuda:N or cuda:N,M,...")
    if not torch.cuda.is_available():
        raise ValueError(f"device {spec}: CUDA is not available on this machine (use cpu)")
    n = torch.cuda.device_count()
    ids = list(range(n)) if m.group(1) is None else [int(x) for x in m.group(1).split(",")]
    bad = [i for i in ids if i >= n]
    if bad or len(set(ids)) != len(ids):
        raise ValueError(f"device {spec}: this machine has {n} CUDA device(s) (cuda:0..cuda:{n - 1}), each named once")
    return [f"cuda:{i}" for i in ids]
