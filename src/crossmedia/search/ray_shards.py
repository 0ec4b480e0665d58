"""Index shards on Ray actors (the ``ray`` extra): past one machine, the same engines.

The items of one modality are split into contiguous shards (:func:`.shards.shard_bounds`);
each shard's codes go into Ray's object store once and a :class:`ShardActor` — one per node or
GPU, placed by Ray — builds the ordinary engine over them (numpy AQD / Hamming / float scan on
CPU, the device engine when the actor holds a GPU). :class:`RayShardedEngine` is the router: it
sends a batch of queries to every actor at once and merges their top-k lists by the engines'
tie policy, so it returns exactly what one engine over all items returns.

The single-process engines stay the embedded default; nothing here is imported without Ray.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError
from .engines.base import Engine, _as_queries
from .shards import merge_shard_results, shard_bounds

__all__ = ["RayShardedEngine", "ShardActor", "ray_module"]


def ray_module():
    """``import ray``, or a clear error naming the extra."""
    try:
        import ray
    except ImportError:
        raise UserError("this needs Ray: pip install 'crossmedia[ray]'") from None
    return ray


class ShardActor:
    """Holds one shard's engine; runs as a Ray actor (``ray.remote(ShardActor)``)."""

    def __init__(self, code_kind: str, db: np.ndarray, *, codebooks=None, bits=None, metric: str = "ip",
                 device: str = "cpu", threads: int = 1):
        import torch

        torch.set_num_threads(max(1, int(threads)))
        db = np.asarray(db)
        if device != "cpu":
            from .shards import device_engine

            self.engine = device_engine(code_kind, db, device, codebooks=codebooks, bits=bits, metric=metric)
        elif code_kind == "quantized":
            from .engines.aqd import AQDEngine

            self.engine = AQDEngine(codebooks, db, threads=threads)
        elif code_kind == "binary":
            from .engines.hamming import HammingEngine

            self.engine = HammingEngine(db, int(bits))
        else:
            from .engines.floatvec import FloatEngine

            self.engine = FloatEngine(db, metric)

    def ntotal(self) -> int:
        return self.engine.ntotal

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.engine.search(queries, k)

    def scores(self, queries: np.ndarray) -> np.ndarray:
        return self.engine.scores(queries)


class RayShardedEngine(Engine):
    """Router over :class:`ShardActor` s; an :class:`~crossmedia.search.Engine` like any other."""

    def __init__(self, actors: list, offsets: list[int], ntotal: int, name: str, bytes_per_item: float):
        self.actors, self.offsets, self._n = list(actors), [int(o) for o in offsets], int(ntotal)
        self.name, self.bytes_per_item = name, float(bytes_per_item)

    @classmethod
    def create(cls, code_kind: str, db: np.ndarray, shards: int, *, codebooks=None, bits=None, metric: str = "ip",
               gpus_per_shard: float = 0.0, cpus_per_shard: float = 1.0, threads: int = 1) -> "RayShardedEngine":
        """Split ``db`` into ``shards`` actors on the connected Ray cluster (``ray.init`` first).
        ``gpus_per_shard > 0``: each actor asks Ray for GPUs and scans on ``cuda``."""
        ray = ray_module()
        if not ray.is_initialized():
            raise UserError("RayShardedEngine: connect to a Ray cluster first (ray.init)")
        db = np.asarray(db)
        bounds = shard_bounds(db.shape[0], shards)
        remote = ray.remote(ShardActor).options(num_cpus=cpus_per_shard, num_gpus=gpus_per_shard)
        cb_ref = ray.put(np.asarray(codebooks)) if codebooks is not None else None
        actors = []
        for i in range(int(shards)):
            part = ray.put(np.ascontiguousarray(db[int(bounds[i]) : int(bounds[i + 1])]))
            actors.append(remote.remote(code_kind, part, codebooks=cb_ref, bits=bits, metric=metric,
                                        device="cuda" if gpus_per_shard > 0 else "cpu", threads=threads))
        sizes = ray.get([a.ntotal.remote() for a in actors])  # waits until every shard is built
        if sum(sizes) != db.shape[0]:
            raise RuntimeError(f"Ray shards hold {sum(sizes)} items, expected {db.shape[0]}")
        name = {"quantized": "aqd", "binary": "hamming"}.get(code_kind, "float")
        bpi = db.shape[1] * db.dtype.itemsize if db.ndim == 2 else 0
        return cls(actors, [int(b) for b in bounds[:-1]], db.shape[0], name, bpi)

    @property
    def ntotal(self) -> int:
        return self._n

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        ray = ray_module()
        q = np.ascontiguousarray(_as_queries(queries))
        results = ray.get([a.search.remote(q, int(k)) for a in self.actors])
        return merge_shard_results(results, self.offsets, int(k))

    def scores(self, queries: np.ndarray) -> np.ndarray:
        ray = ray_module()
        q = np.ascontiguousarray(_as_queries(queries))
        return np.concatenate(ray.get([a.scores.remote(q) for a in self.actors]), axis=1)

    def close(self) -> None:
        """Stop the actors."""
        ray = ray_module()
        for a in self.actors:
            ray.kill(a)
        self.actors = []
