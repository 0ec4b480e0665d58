"""``crossmedia train --nproc N``: the same command under ``torchrun`` with N processes on this
machine (a standalone rendezvous), i.e. ``python -m torch.distributed.run --standalone
--nproc-per-node N -m crossmedia train …`` without ``--nproc``."""

from __future__ import annotations

import subprocess
import sys


def strip_nproc(args: list[str]) -> list[str]:
    """``args`` without ``--nproc N`` / ``--nproc=N``."""
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            out.append(a)
    return out


def torchrun_command(nproc: int, args: list[str]) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
            "-m", "crossmedia", *strip_nproc(args)]


def run_torchrun(nproc: int, args: list[str]) -> int:
    """Run the training under torchrun; returns its exit status (2 for a user error on a rank)."""
    return subprocess.call(torchrun_command(nproc, args))
