"""A memory guard for the long commands (training, index building/updating): the process's
address space is capped (``RLIMIT_AS``) for the duration of the work, so a size the user asked
for that implies more memory than the machine can give ends in one line ``error: ...`` naming
the setting, instead of the kernel's OOM killer ending the process (and slowing the machine
for everyone else first).

The cap is ``max_memory_gb`` GiB when given (``train.max_memory_gb``, ``--max-memory-gb``, or the
``CROSSMEDIA_MAX_MEMORY_GB`` environment variable), else 80% of the physical memory. It is
never raised above a cap the process already has, and it is not applied on CUDA devices
(their drivers reserve huge address ranges; there the config bounds still apply).
"""

from __future__ import annotations

import contextlib
import math
import os
from typing import Iterator

from .errors import UserError

__all__ = ["ENV", "memory_guard", "default_limit_bytes", "resolve_limit_bytes", "is_out_of_memory"]

ENV = "CROSSMEDIA_MAX_MEMORY_GB"
_DEFAULT_FRACTION = 0.8


def default_limit_bytes() -> int | None:
    """80% of the physical memory, or None where it cannot be read."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * _DEFAULT_FRACTION)
    except (ValueError, OSError, AttributeError):
        return None


def resolve_limit_bytes(max_memory_gb: float | None) -> int | None:
    """The cap in bytes: the argument, else the environment variable, else the default."""
    src = "max_memory_gb"
    if max_memory_gb is None and os.environ.get(ENV):
        max_memory_gb, src = os.environ[ENV], ENV
    if max_memory_gb is None:
        return default_limit_bytes()
    try:
        gb = float(max_memory_gb)
    except (TypeError, ValueError):
        raise UserError(f"{src}: expected a number of GiB, got {max_memory_gb!r}") from None
    if not math.isfinite(gb) or gb <= 0 or gb > 1 << 20:
        raise UserError(f"{src}: expected a positive number of GiB (at most {1 << 20}), got {max_memory_gb!r}")
    return int(gb * (1 << 30))


def is_out_of_memory(e: BaseException) -> bool:
    if isinstance(e, MemoryError):
        return True
    msg = str(e).lower()
    return isinstance(e, RuntimeError) and ("can't allocate memory" in msg or "not enough memory" in msg
                                           or "out of memory" in msg or "failed to allocate" in msg)


@contextlib.contextmanager
def memory_guard(max_memory_gb: float | None, what: str, setting: str, *, enabled: bool = True) -> Iterator[None]:
    """Run the block with the address space capped; running out of it is a :class:`UserError`
    ``"{what}: needs more memory than the limit of N GiB ({setting}); ..."``."""
    limit = resolve_limit_bytes(max_memory_gb)
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        resource = None
    if not enabled or limit is None or resource is None:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    new = limit if soft == resource.RLIM_INFINITY else min(soft, limit)
    if hard != resource.RLIM_INFINITY:
        new = min(new, hard)
    resource.setrlimit(resource.RLIMIT_AS, (new, hard))
    try:
        yield
    except (MemoryError, RuntimeError) as e:
        if not is_out_of_memory(e):
            raise
        raise UserError(f"{what}: needs more memory than the limit of {new / (1 << 30):.1f} GiB ({setting}); "
                        "lower the sizes (model.bits, train.batch_size, --batch-size) or raise the limit") from None
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
