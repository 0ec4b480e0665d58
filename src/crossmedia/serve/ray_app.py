"""``crossmedia serve --ray ADDRESS``: the same FastAPI app (:func:`.app.create_app`) deployed
with Ray Serve, its index searched by shards on Ray actors
(:class:`~crossmedia.search.ray_shards.RayShardedEngine`).

The replica opens the index folder (model, item table, rerank features: small) and replaces
both modalities' default engines by routers over ``shards`` actors each; searches micro-batch
into the router when ``batching`` is given. The folder must be readable at the same path on the
node that runs the replica; the shards' codes travel through Ray's object store.
"""

from __future__ import annotations

from pathlib import Path

from ..search.ray_shards import ray_module

__all__ = ["deployment", "serve_on_ray", "ray_index"]


def ray_index(index_path, shards: int, *, verify: bool = True, gpus_per_shard: float = 0.0, cpus_per_shard: float = 1.0):
    """The index at ``index_path`` with both modalities' default engines on Ray actors."""
    import numpy as np

    from ..search import Index
    from ..search.ray_shards import RayShardedEngine

    ix = Index.load(index_path, verify=verify)
    for mod in ("image", "text"):
        eng = RayShardedEngine.create(ix.codec, np.asarray(ix.arrays[f"{mod}_db"]), shards,
                                      gpus_per_shard=gpus_per_shard, cpus_per_shard=cpus_per_shard)
        ix.set_engine(mod, eng)
    return ix


def deployment(index_path, shards: int = 2, limits: dict | None = None, batching: dict | None = None,
               verify: bool = True, gpus_per_shard: float = 0.0, cpus_per_shard: float = 1.0):
    """A bound Ray Serve application serving ``index_path`` (pass it to ``serve.run``)."""
    from ray import serve

    @serve.deployment(name="crossmedia", ray_actor_options={"num_cpus": 0})
    @serve.ingress()
    class CrossmediaSearch:
        def __init__(self, index_path, shards, limits, batching, verify, gpus_per_shard, cpus_per_shard):
            from .app import create_app
            from .batching import BatchConfig
            from .limits import Limits

            ix = ray_index(index_path, shards, verify=verify, gpus_per_shard=gpus_per_shard,
                           cpus_per_shard=cpus_per_shard)
            self._app = create_app(ix, limits=Limits.from_dict(limits),
                                   batching=None if batching is None else BatchConfig(**batching))

        def __serve_build_asgi_app__(self):
            return self._app

    return CrossmediaSearch.bind(str(Path(index_path).resolve()), int(shards), dict(limits or {}),
                                 None if batching is None else dict(batching), bool(verify), float(gpus_per_shard),
                                 float(cpus_per_shard))


def serve_on_ray(index_path, address: str, *, host: str = "127.0.0.1", port: int = 8000, shards: int = 2,
                 limits=None, batching=None, verify: bool = True, gpus_per_shard: float = 0.0) -> None:
    """Connect to the Ray cluster at ``address`` and serve until interrupted."""
    ray = ray_module()
    from ray import serve

    ray.init(address=address, log_to_driver=False)
    serve.start(http_options={"host": host, "port": int(port)})
    app = deployment(index_path, shards, limits=None if limits is None else limits.to_dict(),
                     batching=None if batching is None else batching.to_dict(), verify=verify, gpus_per_shard=gpus_per_shard)
    serve.run(app, name="crossmedia", route_prefix="/", blocking=True)
