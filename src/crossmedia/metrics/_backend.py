"""Small helpers to treat numpy arrays and torch tensors alike (torch is imported lazily)."""

from __future__ import annotations

import os
import sys

import numpy as np


def torch_module():
    """The torch module if it is importable, else None (imported on first use)."""
    t = sys.modules.get("torch")
    if t is not None:
        return t
    try:
        import torch as t  # noqa: PLC0415
    except ImportError:  # pragma: no cover - torch is a dependency
        return None
    return t


def is_torch(x) -> bool:
    t = sys.modules.get("torch")
    return t is not None and isinstance(x, t.Tensor)


def on_device(x) -> bool:
    """True for a torch tensor that lives off the CPU (CUDA): computed there, not copied back."""
    return is_torch(x) and x.device.type != "cpu"


def to_numpy(x) -> np.ndarray:
    """A numpy view (or copy off the device) of ``x``; never written to by this package."""
    if is_torch(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def n_threads() -> int:
    """Worker threads for the CPU engine: torch's intra-op setting when torch is loaded."""
    t = sys.modules.get("torch")
    n = t.get_num_threads() if t is not None else (os.cpu_count() or 1)
    return max(1, int(n))
