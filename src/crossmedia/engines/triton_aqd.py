"""A fused AQD scan in Triton (optional dependency): one pass over the codes computes the
scores of a block of queries and keeps a running top-k, so neither the (Q, N) score matrix nor
any chunk of it is ever written to memory.

Program (query block ``b``, item range ``r``):

* the block's lookup tables ``T[q, m, :]`` (M × K float32 per query: 4 KiB at 32 bits, 8 KiB
  at 64 bits) are read by gathers that stay in the L1/L2 caches (Triton exposes no addressable
  shared-memory gather; the tables of a 16-query block fit in one SM's L1);
* the codes of range ``r`` (row-major, M bytes an item) are streamed once per query block, in
  tiles of ``BN`` items; scores accumulate in float32 registers, ``(BQ, BN)`` per tile;
* each score is packed with its row into one int64 key (:func:`.torch_topk.score_keys`: the
  key order is the engines' tie policy), the tile's best ``KP`` keys are merged into the running
  ``(BQ, KP)`` list by a bitonic step (max of a descending and an ascending sorted list = the
  best half) — ``KP`` is ``k`` rounded up to a power of two;
* the ``(Q, ranges, KP)`` candidates are reduced with one ``torch.topk`` on the device.

Results equal the numpy engine's up to float32 summation order (tests compare them, through
Triton's CPU interpreter ``TRITON_INTERPRET=1`` when no GPU is at hand).
"""

from __future__ import annotations

import os

import torch

from .torch_topk import decode_keys

__all__ = ["available", "aqd_topk", "MAX_K"]

#: largest k the kernel selects (KP registers per query row); larger k use the torch path
MAX_K = 256
_KERNEL = {}


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "") == "1"


def available(device) -> tuple[bool, str]:
    """(whether the fused kernel can run on ``device``, why not)."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return False, "Triton is not installed (pip install 'crossmedia[gpu]')"
    dev = torch.device(device)
    if dev.type == "cuda":
        return True, ""
    if dev.type == "cpu" and _interpreting():
        return True, ""
    return False, f"the Triton kernel runs on CUDA devices (or on CPU under TRITON_INTERPRET=1), not {dev}"


def _kernel():
    """The jitted kernel (built on first use, so that TRITON_INTERPRET is read then)."""
    key = _interpreting()
    if key in _KERNEL:
        return _KERNEL[key]
    import triton
    import triton.language as tl

    @triton.jit
    def aqd_scan_topk(lut_ptr, codes_ptr, keys_ptr, nq, n, per_prog, n_progs_n,
                      M: tl.constexpr, K: tl.constexpr, BQ: tl.constexpr, BN: tl.constexpr, KP: tl.constexpr):
        pid_q = tl.program_id(0)
        pid_n = tl.program_id(1)
        offs_q = pid_q * BQ + tl.arange(0, BQ)
        qmask = offs_q < nq
        start = pid_n * per_prog
        stop = tl.minimum(start + per_prog, n)
        # -2⁶³ = torch_topk.KEY_NONE, the key of "no item"
        best = tl.full((BQ, KP), -9223372036854775807 - 1, tl.int64)
        lut_rows = offs_q.to(tl.int64) * (M * K)
        for s in range(start, stop, BN):
            offs_n = s + tl.arange(0, BN)
            nmask = offs_n < stop
            acc = tl.zeros((BQ, BN), dtype=tl.float32)
            for m in tl.static_range(M):
                c = tl.load(codes_ptr + offs_n.to(tl.int64) * M + m, mask=nmask, other=0).to(tl.int64)
                acc += tl.load(lut_ptr + lut_rows[:, None] + m * K + c[None, :], mask=qmask[:, None], other=0.0)
            bits = (acc + 0.0).to(tl.int32, bitcast=True)
            ordered = tl.where(bits < 0, bits ^ 0x7FFFFFFF, bits).to(tl.int64)
            low = 0xFFFFFFFF - offs_n.to(tl.int64)
            key = (ordered << 32) | low[None, :]
            key = tl.where(nmask[None, :], key, -9223372036854775807 - 1)
            top = tl.sort(tl.topk(key, KP, dim=1), dim=1, descending=False)
            best = tl.sort(tl.maximum(best, top), dim=1, descending=True)
        out = keys_ptr + (offs_q.to(tl.int64) * n_progs_n + pid_n)[:, None] * KP + tl.arange(0, KP)[None, :]
        tl.store(out, best, mask=qmask[:, None])

    _KERNEL[key] = aqd_scan_topk
    return aqd_scan_topk


def _next_pow2(x: int) -> int:
    return 1 << max(0, int(x) - 1).bit_length()


def aqd_topk(lut: torch.Tensor, codes: torch.Tensor, k: int, *, block_q: int = 16, block_n: int = 256,
             programs: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` of the AQD scores ``Σ_m lut[q, m, codes[n, m]]``: ``lut`` (Q, M, K) float32 and
    ``codes`` (N, M) uint8 on the same device. Returns (scores (Q, k') float32, rows (Q, k')
    int64), k' = min(k, N), best first by (score desc, row asc), on the device. ``programs``:
    how many item ranges run in parallel per query block (default: enough to fill the device)."""
    import triton

    q, M, K = lut.shape
    n = codes.shape[0]
    if codes.dim() != 2 or codes.shape[1] != M or codes.dtype != torch.uint8:
        raise ValueError(f"aqd_topk: codes (N, {M}) uint8 expected, got {tuple(codes.shape)} {codes.dtype}")
    if not 1 <= k <= MAX_K:
        raise ValueError(f"aqd_topk: k must be in 1..{MAX_K}, got {k}")
    if n >= 1 << 32:
        raise ValueError("aqd_topk: at most 2³² − 1 items per call (shard larger databases)")
    kp = max(_next_pow2(k), 2)
    bn = max(int(block_n), kp)
    bq = max(int(block_q), 1)
    tiles = triton.cdiv(n, bn)
    qblocks = triton.cdiv(q, bq)
    if programs is None:
        if lut.device.type == "cuda":
            sms = torch.cuda.get_device_properties(lut.device).multi_processor_count
            programs = max(1, (8 * sms) // qblocks)
        else:
            programs = 2
    n_progs = max(1, min(int(programs), tiles))
    per_prog = triton.cdiv(tiles, n_progs) * bn
    n_progs = triton.cdiv(n, per_prog)
    keys = torch.empty((q, n_progs, kp), dtype=torch.int64, device=lut.device)
    _kernel()[(qblocks, n_progs)](lut.contiguous(), codes.contiguous(), keys, q, n, per_prog, n_progs,
                                  M=M, K=K, BQ=bq, BN=bn, KP=kp)
    keys = keys.reshape(q, n_progs * kp)
    kk = min(int(k), n)
    top = torch.topk(keys, kk, dim=1, sorted=True).values  # key order = (score desc, row asc)
    s, r = decode_keys(top)
    return s, r

