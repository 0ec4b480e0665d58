"""Micro-batching of concurrent searches: requests that arrive within a bounded wait are
searched as one batch of queries, so a device engine's batch throughput reaches HTTP clients.

:class:`BatchingEngine` wraps any :class:`~crossmedia.search.Engine`. A caller's ``search``
puts its queries on a queue and blocks; one worker thread takes the first waiting request,
collects more for at most ``max_wait_ms`` (or until ``max_batch`` queries), runs one
``inner.search(all queries, max k)`` and hands each caller its rows cut to its own ``k``. A
top-``k`` list is a prefix of the top-``K`` list for k ≤ K under the engines' tie policy,
and the engines are batch invariant (a query's scores don't depend on the other queries of its
batch, see :mod:`crossmedia.engines.base`), every caller gets exactly what a direct search of
the same engine would return.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from ..engines.base import Engine, _as_queries

__all__ = ["BatchConfig", "BatchingEngine"]


@dataclass(frozen=True)
class BatchConfig:
    """``max_wait_ms``: longest a request waits for others; ``max_batch``: queries per batch."""

    max_wait_ms: float = 2.0
    max_batch: int = 256

    def to_dict(self) -> dict:
        return {"max_wait_ms": self.max_wait_ms, "max_batch": self.max_batch}

    def __post_init__(self):
        if not (0 <= self.max_wait_ms <= 1000):
            raise ValueError(f"batch wait: expected 0..1000 ms, got {self.max_wait_ms}")
        if not (1 <= self.max_batch <= 65536):
            raise ValueError(f"batch size: expected 1..65536 queries, got {self.max_batch}")


class BatchingEngine(Engine):
    def __init__(self, inner: Engine, config: BatchConfig | None = None):
        self.inner = inner
        self.config = config or BatchConfig()
        self.name = inner.name
        self.bytes_per_item = inner.bytes_per_item
        self._queue: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        #: (batches run, queries searched) — for the service's health report and tests
        self.stats = [0, 0]

    @property
    def ntotal(self) -> int:
        return self.inner.ntotal

    def scores(self, queries: np.ndarray) -> np.ndarray:
        return self.inner.scores(queries)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = _as_queries(queries)
        fut: Future = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("BatchingEngine is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="crossmedia-batcher", daemon=True)
                self._thread.start()
            self._queue.put((q, int(k), fut))
        return fut.result()

    def close(self) -> None:
        """Stop the worker (pending requests are still answered)."""
        with self._lock:
            self._closed = True
            if self._thread is not None:
                self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        cfg = self.config
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                return
            batch, n = [first], first[0].shape[0]
            deadline = time.monotonic() + cfg.max_wait_ms / 1000.0
            while n < cfg.max_batch:
                left = deadline - time.monotonic()
                try:
                    item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
                n += item[0].shape[0]
            self._run(batch)

    def _run(self, batch) -> None:
        try:
            kmax = max(k for _, k, _ in batch)
            s, r = self.inner.search(np.concatenate([q for q, _, _ in batch]), kmax)
        except BaseException as e:  # every waiting caller gets the error
            for _, _, fut in batch:
                fut.set_exception(e)
            return
        self.stats[0] += 1
        self.stats[1] += sum(q.shape[0] for q, _, _ in batch)
        i = 0
        for q, k, fut in batch:
            fut.set_result((s[i : i + q.shape[0], :k].copy(), r[i : i + q.shape[0], :k].copy()))
            i += q.shape[0]
