"""Seeding and provenance: seeding Python, numpy and torch (for a block, or for a whole script);
git commit and machine lookup."""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
from pathlib import Path

import numpy as np


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators — for a script that owns its process
    (library code uses :func:`seeded`, which gives the caller its generators back)."""
    _seed_generators(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))


def _seed_generators(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators (torch: CPU and every CUDA device)."""
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


@contextlib.contextmanager
def seeded(seed: int):
    """Run a block with Python's, numpy's and torch's global generators (CPU, and every CUDA
    device already in use) seeded from ``seed``, and give the caller back the states it had: a
    training run inside a larger program neither depends on nor changes that program's streams."""
    import torch

    py_state, np_state = random.getstate(), np.random.get_state()
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    devices = list(range(torch.cuda.device_count())) if cuda else []
    with torch.random.fork_rng(devices=devices):
        try:
            _seed_generators(seed)
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


def git_commit(path: str | os.PathLike | None = None) -> str | None:
    """The current git commit of the source tree (``+dirty`` if modified), or None outside git."""
    where = Path(path) if path else Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5
        )
        if out.returncode != 0:
            return None
        commit = out.stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where, capture_output=True, text=True, timeout=5,
        )
        return commit + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def cpuinfo_fields(text: str) -> dict[str, str]:
    """The ``key: value`` fields of the first processor's block of a ``/proc/cpuinfo`` text."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_identity() -> dict:
    """What identifies the CPU a floating-point result came from: its model name, its x86 family /
    model / stepping (hosts that share a marketing name can differ in generation), and the
    instruction set torch's CPU kernels dispatch to (``AVX2``, ``AVX512``, ...). Two runs of the
    same settings reproduce bit for bit on the same torch build and capability; on another
    capability the kernels round differently, and a long training drifts."""
    import platform

    info = {"cpu": platform.processor() or "", "cpu_id": None, "cpu_capability": None}
    try:
        with open("/proc/cpuinfo") as f:
            fields = cpuinfo_fields(f.read())
    except OSError:
        fields = {}
    if fields.get("model name"):
        info["cpu"] = fields["model name"]
    if all(k in fields for k in ("cpu family", "model", "stepping")):
        info["cpu_id"] = f"family {fields['cpu family']} model {fields['model']} stepping {fields['stepping']}"
    try:
        import torch

        info["cpu_capability"] = str(torch.backends.cpu.get_cpu_capability())
    except (ImportError, AttributeError, RuntimeError):
        pass
    return info


def machine_info() -> dict:
    """What a results file records about the machine it was measured on: CPU model, its family /
    model / stepping and torch's kernel instruction set (:func:`cpu_identity`), core count,
    Python, platform and the load average when the measurement started."""
    import platform

    load = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return {**cpu_identity(), "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "loadavg_at_start": load}
