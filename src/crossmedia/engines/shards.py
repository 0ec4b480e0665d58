"""One index, several devices: the items are split into contiguous shards, one engine per
shard (each on its own device), a query goes to every shard at once and the shards' top-k lists
are merged by the engines' tie policy — the result is the unsharded engine's.

:func:`device_engine` splits codes over the devices of a ``--device`` value (``cuda`` = every
visible GPU, ``cuda:N``, ``cuda:0,1``; ``cpu*N`` = N CPU shards, for tests); each codec's
:meth:`~crossmedia.codecs.Codec.engine` uses it with its own per-device engine.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np
import torch

from .base import Engine, _as_queries
from .torch_topk import order_by_score_then_row, resolve_devices

__all__ = ["ShardedEngine", "device_engine", "merge_shard_results", "shard_bounds"]


def shard_bounds(n: int, shards: int) -> np.ndarray:
    """``shards + 1`` row boundaries splitting ``n`` items into near-equal contiguous shards."""
    return np.linspace(0, int(n), int(shards) + 1).astype(np.int64)


def merge_shard_results(results: list[tuple[np.ndarray, np.ndarray]], offsets, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge per-shard (scores (Q, k), local rows (Q, k)) into the global top-``k``: rows shifted
    by the shard's offset (−1 stays −1), ordered by (score desc, row asc)."""
    s = np.concatenate([r[0] for r in results], axis=1)
    rows = np.concatenate([np.where(r[1] >= 0, r[1] + int(off), -1) for r, off in zip(results, offsets)], axis=1)
    ts, tr = order_by_score_then_row(torch.from_numpy(np.ascontiguousarray(s)), torch.from_numpy(rows))
    out_s = np.full((s.shape[0], k), -np.inf, dtype=np.float32)
    out_r = np.full((s.shape[0], k), -1, dtype=np.int64)
    n = min(k, s.shape[1])
    out_s[:, :n], out_r[:, :n] = ts[:, :n].numpy(), tr[:, :n].numpy()
    return out_s, out_r


class ShardedEngine(Engine):
    """Engines over consecutive row ranges of one database, searched in parallel (one thread a
    shard: device kernels and numpy scans release the GIL) and merged."""

    def __init__(self, shards: list[Engine], offsets: list[int] | None = None):
        if not shards:
            raise ValueError("ShardedEngine: no shards")
        self.shards = list(shards)
        sizes = [e.ntotal for e in self.shards]
        self.offsets = list(np.cumsum([0] + sizes[:-1])) if offsets is None else [int(o) for o in offsets]
        self._n = int(sum(sizes))
        self.name = self.shards[0].name
        self.bytes_per_item = self.shards[0].bytes_per_item
        self._pool = ThreadPoolExecutor(len(self.shards), thread_name_prefix="crossmedia-shard") if len(self.shards) > 1 else None

    @property
    def ntotal(self) -> int:
        return self._n

    def _map(self, fn):
        if self._pool is None:
            return [fn(self.shards[0])]
        return list(self._pool.map(fn, self.shards))

    def scores(self, queries: np.ndarray) -> np.ndarray:
        return np.concatenate(self._map(lambda e: e.scores(queries)), axis=1)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = _as_queries(queries)
        return merge_shard_results(self._map(lambda e: e.search(q, k)), self.offsets, int(k))


def device_engine(codes, device: str, make: Callable[[np.ndarray, str], Engine]) -> Engine:
    """The engine over ``codes`` on the devices named by ``device`` (see
    :func:`.torch_topk.resolve_devices`): ``make(part, device)`` builds one shard's engine; one
    device → that engine, several → a :class:`ShardedEngine` of contiguous row ranges."""
    devices = resolve_devices(device)
    codes = np.asarray(codes)
    bounds = shard_bounds(codes.shape[0], len(devices))
    engines = [make(codes[int(bounds[i]) : int(bounds[i + 1])], d) for i, d in enumerate(devices)]
    return engines[0] if len(engines) == 1 else ShardedEngine(engines, [int(b) for b in bounds[:-1]])
