"""``crossmedia index build --ray``: encode the items in parallel with Ray Data.

The item positions become a Ray dataset; ``workers`` encoder actors each load the run's model
and the dataset once, then turn batches of positions into the index's arrays (codes of both
modalities, rerank features) exactly as the single-process build does; the driver puts the
batches back in item order. The index folder is then written by the ordinary build, so its
format, manifest and atomic replacement are unchanged.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError
from .ray_shards import ray_module

__all__ = ["encode_with_ray", "connect"]


def connect(address: str | None):
    """``ray.init``: ``None``/``"local"`` starts a local cluster, else connects to ``address``
    (``auto``, ``host:port``, ``ray://host:port``). Reuses an existing connection."""
    ray = ray_module()
    if ray.is_initialized():
        return ray
    try:
        if address in (None, "local"):
            ray.init(log_to_driver=False, include_dashboard=False)
        else:
            ray.init(address=address, log_to_driver=False)
    except ConnectionError as e:
        raise UserError(f"--ray {address}: cannot reach a Ray cluster ({e})") from None
    return ray


class _Encoder:
    """A Ray Data actor: the run's model and the dataset, loaded once."""

    def __init__(self, run_dir: str, checkpoint: str, data_dir: str, indices: np.ndarray, batch_size: int):
        import torch

        from ..models import load_checkpoint
        from .index import _tensors_for

        torch.set_num_threads(1)
        self.model = load_checkpoint(run_dir, checkpoint).model
        self.codec = self.model.codec()
        self.ds, self.tensors = _tensors_for(self.model, data_dir)
        self.indices, self.batch_size = np.asarray(indices, dtype=np.int64), int(batch_size)

    def __call__(self, batch: dict) -> dict:
        from .index import _encode

        pos = np.asarray(batch["data"], dtype=np.int64)
        arrays, _ = _encode(self.model, self.codec, self.ds, self.tensors, self.indices[pos], self.batch_size,
                            quiet=True)
        return {"pos": pos, **arrays}


def encode_with_ray(run_dir, checkpoint: str, data_dir, indices: np.ndarray, *, batch_size: int = 256,
                    workers: int = 2, address: str | None = None) -> dict[str, np.ndarray]:
    """The arrays :func:`.index._encode` would produce for ``indices``, computed by ``workers``
    Ray Data actors on the cluster at ``address``."""
    ray = connect(address)
    indices = np.asarray(indices, dtype=np.int64)
    # one CPU an encoder, but leave a CPU free for Ray Data's own tasks (else, on a small
    # cluster, the encoders hold every CPU and the pipeline waits forever)
    cpus = float(ray.cluster_resources().get("CPU", 1))
    per_worker = min(1.0, (cpus - 1) / int(workers) if cpus > 1 else cpus / (int(workers) + 1))
    # the positions, in memory (no read tasks), one block per batch group: work for every encoder
    pos = np.arange(len(indices), dtype=np.int64)
    n_blocks = max(1, min(-(-len(indices) // int(batch_size)), 8 * int(workers)))
    data = ray.data.from_numpy(np.array_split(pos, n_blocks))
    out = data.map_batches(_Encoder, fn_constructor_args=(str(run_dir), checkpoint, str(data_dir), indices, batch_size),
                           batch_size=int(batch_size), concurrency=int(workers), num_cpus=per_worker,
                           batch_format="numpy")
    parts: dict[str, list] = {}
    for b in out.iter_batches(batch_size=None, batch_format="numpy"):
        for key, value in b.items():
            parts.setdefault(key, []).append(np.asarray(value))
    pos = np.concatenate(parts.pop("pos"))
    order = np.argsort(pos, kind="stable")
    if not np.array_equal(pos[order], np.arange(len(indices))):
        raise RuntimeError(f"Ray encoding returned {len(pos)} rows for {len(indices)} items")
    return {key: np.concatenate(chunks)[order] for key, chunks in parts.items()}
