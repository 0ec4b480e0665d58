"""Index shards on Ray actors (the ``ray`` extra): past one machine, the same engines.

The items of one modality are split into contiguous shards
(:func:`crossmedia.engines.shards.shard_bounds`); each shard's codes go into Ray's object store
once and a :class:`ShardActor` — one per node or GPU, placed by Ray — builds the codec's own
engine over them (the numpy AQD / Hamming / float scan on CPU, the device engine when the actor
holds a GPU). :class:`RayShardedEngine` is the router: it
sends a batch of queries to every actor at once and merges their top-k lists by the engines'
tie policy, so it returns exactly what one engine over all items returns.

The single-process engines stay the embedded default; nothing here is imported without Ray.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError
from ..engines.base import Engine, _as_queries
from ..engines.shards import merge_shard_results, shard_bounds

__all__ = ["RayShardedEngine", "ShardActor", "ray_module"]


def ray_module():
    """``import ray``, or a clear error naming the extra."""
    try:
        import ray
    except ImportError:
        raise UserError("this needs Ray: pip install 'crossmedia[ray]'") from None
    return ray


class ShardActor:
    """Holds one shard's engine — the codec's own engine over the shard's codes (on ``device``
    when the actor holds a GPU); runs as a Ray actor (``ray.remote(ShardActor)``)."""

    def __init__(self, codec_name: str, codec_state: dict, codes: np.ndarray, *, device: str = "cpu",
                 threads: int = 1):
        import torch

        from ..codecs import codec_from_state

        torch.set_num_threads(max(1, int(threads)))
        self.engine = codec_from_state(codec_name, codec_state).engine(np.asarray(codes), device=device)

    def ntotal(self) -> int:
        return self.engine.ntotal

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.engine.search(queries, k)

    def scores(self, queries: np.ndarray) -> np.ndarray:
        return self.engine.scores(queries)


class RayShardedEngine(Engine):
    """Router over :class:`ShardActor` s; an :class:`~crossmedia.engines.Engine` like any other."""

    def __init__(self, actors: list, offsets: list[int], ntotal: int, name: str, bytes_per_item: float):
        self.actors, self.offsets, self._n = list(actors), [int(o) for o in offsets], int(ntotal)
        self.name, self.bytes_per_item = name, float(bytes_per_item)

    @classmethod
    def create(cls, codec, codes: np.ndarray, shards: int, *, gpus_per_shard: float = 0.0, cpus_per_shard: float = 1.0,
               threads: int = 1) -> "RayShardedEngine":
        """Split ``codes`` (stored with ``codec``) into ``shards`` actors on the connected Ray
        cluster (``ray.init`` first). ``gpus_per_shard > 0``: each actor asks Ray for GPUs and
        scans on ``cuda``."""
        ray = ray_module()
        if not ray.is_initialized():
            raise UserError("RayShardedEngine: connect to a Ray cluster first (ray.init)")
        codes = np.asarray(codes)
        bounds = shard_bounds(codes.shape[0], shards)
        remote = ray.remote(ShardActor).options(num_cpus=cpus_per_shard, num_gpus=gpus_per_shard)
        state = ray.put(codec.state())
        actors = []
        for i in range(int(shards)):
            part = ray.put(np.ascontiguousarray(codes[int(bounds[i]) : int(bounds[i + 1])]))
            actors.append(remote.remote(codec.name, state, part, device="cuda" if gpus_per_shard > 0 else "cpu",
                                        threads=threads))
        sizes = ray.get([a.ntotal.remote() for a in actors])  # waits until every shard is built
        if sum(sizes) != codes.shape[0]:
            raise RuntimeError(f"Ray shards hold {sum(sizes)} items, expected {codes.shape[0]}")
        return cls(actors, [int(b) for b in bounds[:-1]], codes.shape[0], codec.engines[0], codec.code_bytes)

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
