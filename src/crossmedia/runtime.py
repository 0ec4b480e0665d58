"""Process-wide torch settings for the span of a block: thread count, deterministic algorithms
and flushing of subnormal floats. Library calls that change them (training, feature
extraction, the demo) give the caller its own settings back on return, error or not."""

from __future__ import annotations

import contextlib

__all__ = ["torch_settings"]


@contextlib.contextmanager
def torch_settings(threads: int | None = None, deterministic: bool | None = None, flush_denormal: bool | None = None):
    """Within the block: ``threads`` intra-op threads, deterministic algorithms on/off, subnormal
    floats flushed to zero on/off; ``None`` leaves a setting as it is. Afterwards every setting
    is what it was before (flushing, which torch cannot report, goes back to torch's default:
    off)."""
    import torch

    threads_before, det_before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    try:
        if threads:
            torch.set_num_threads(int(threads))
        if deterministic is not None:
            torch.use_deterministic_algorithms(bool(deterministic))
        if flush_denormal is not None:
            torch.set_flush_denormal(bool(flush_denormal))
        yield
    finally:
        if flush_denormal:
            torch.set_flush_denormal(False)
        torch.set_num_threads(threads_before)
        torch.use_deterministic_algorithms(det_before)
