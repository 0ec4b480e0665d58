"""Data-parallel training over several processes (``torchrun``): one global batch, split by rows.

Every rank holds the same model, the same per-training-item state (memory banks, codes, graphs)
and the same random streams. For each global batch of B rows:

* the model's :attr:`~crossmedia.models.RetrievalModel.row_modules` (its per-item encoders, the
  expensive part) run on this rank's share of the rows only; their outputs are all-gathered
  (autograd-aware) into the full B rows;
* everything after them — the batch's loss, the writes into the memory of all training outputs —
  runs on the full gathered batch, identically on every rank, so the memory banks stay equal on
  all ranks without a separate exchange (this *is* the all-gather of the memory);
* batch normalisation inside a row module uses the statistics of the whole global batch (sums
  all-reduced over the ranks, differentiably), like one process with that batch;
* after ``backward`` the gradients of the row modules' parameters (each rank holds the part due to
  its rows) are summed over the ranks; the other parameters already have the full gradient.

The result is the gradient of the global-batch loss — the same step one process takes with the
same batch — whatever the loss couples across rows (hardest negatives, in-batch similarity,
balance terms). Exceptions, said plainly: dropout inside a row module draws its masks per rank (a
rank-specific stream), so runs with dropout are equivalent in distribution but not bitwise equal
to one process; a model without row modules runs its whole step on every rank (correct, no
speedup). Whole-training-set steps share their items instead (:class:`RankCollectives`, given to
the model as ``TrainContext.ranks``): CMSL's codebook step encodes and ICM-codes each rank's slice
of the training items, all-gathers the codes and solves the codebook update from normal equations
(HᵀH, HᵀX) summed over the ranks; the B-step of DCMH and twotower signs each rank's slice and
all-gathers it. Everything else in ``on_epoch_start`` runs on every rank on the same replicated
state.

Validation, checkpoints and logs happen on rank 0; rank 0's random states are then broadcast so
that the ranks stay in lockstep. A checkpoint does not depend on the number of processes, so a run
can be resumed with another one (same global batch → same run).
"""

from __future__ import annotations

import contextlib
import os
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ..data.streaming import row_split
from ..errors import UserError
from ..models.base import Ranks

__all__ = ["DistInfo", "RankCollectives", "ranks", "batch_gatherer", "init_from_env", "shutdown", "row_split", "all_gather_rows",
           "sharded_rows", "allreduce_grads", "broadcast_object", "barrier", "sync_rng_from_rank0"]


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world: int
    local_rank: int
    backend: str
    owns_group: bool = True  # False when the caller had already joined the group (it closes it)

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_env(device: str | torch.device) -> tuple[DistInfo | None, torch.device]:
    """Join the process group described by torchrun's environment (``WORLD_SIZE`` > 1), with
    NCCL for CUDA devices and gloo otherwise; each rank takes ``cuda:LOCAL_RANK``. Returns
    ``(None, device)`` for a single process."""
    device = torch.device(device)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None, device
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if local >= torch.cuda.device_count():
            raise UserError(f"LOCAL_RANK {local}: this machine has {torch.cuda.device_count()} CUDA devices; "
                            "start at most that many processes per node")
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group(backend=backend)
    return DistInfo(rank, world, local, backend, owns), device


def shutdown(info: DistInfo | None) -> None:
    if info is not None and info.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def _gather_padded(x: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """Concatenate every rank's ``x`` (rows ``sizes[r]``); trailing dims are zero-padded to the
    largest over the ranks (e.g. a text batch trimmed to its longest text)."""
    world = len(sizes)
    shape = torch.tensor(list(x.shape[1:]), dtype=torch.long, device=x.device)
    shapes = [torch.zeros_like(shape) for _ in range(world)]
    dist.all_gather(shapes, shape)
    tail = torch.stack(shapes).max(0).values.tolist()
    rows = max(sizes)
    buf = x.new_zeros((rows, *tail))
    buf[tuple(slice(0, d) for d in x.shape)] = x
    parts = [torch.empty_like(buf) for _ in range(world)]
    dist.all_gather(parts, buf.contiguous())
    return torch.cat([p[:n] for p, n in zip(parts, sizes)], 0)


class RankCollectives(Ranks):
    """:class:`~crossmedia.models.base.Ranks` over the process group: contiguous spans
    (:func:`row_split`), all-gather of the spans' rows, all-reduce sums."""

    def __init__(self, info: DistInfo):
        self.info = info
        self.rank, self.world = info.rank, info.world

    def span(self, n: int) -> tuple[int, int]:
        return row_split(n, self.world)[self.rank]

    def all_gather(self, x: torch.Tensor, n: int) -> torch.Tensor:
        sizes = [e - s for s, e in row_split(n, self.world)]
        if x.shape[0] != sizes[self.rank]:
            raise ValueError(f"all_gather: rank {self.rank} holds {x.shape[0]} rows, its span has {sizes[self.rank]}")
        return _gather_padded(x.contiguous(), sizes)

    def all_reduce_sum(self, x: torch.Tensor) -> torch.Tensor:
        y = x.clone()
        dist.all_reduce(y)
        return y

    def mean(self, values: torch.Tensor, n: int) -> float:
        total = torch.stack([values.double().sum(), torch.tensor(float(values.numel()), dtype=torch.float64,
                                                                 device=values.device)])
        dist.all_reduce(total)
        return float(total[0] / total[1]) if float(total[1]) else 0.0


def batch_gatherer(info: DistInfo | None):
    """``gather(batch, sizes)``: every rank's share of a batch dict (``sizes[r]`` rows on rank r)
    joined in rank order on every rank — for inputs that each rank reads itself (shards)."""
    if info is None or info.world == 1:
        return None

    def gather(batch: dict, sizes: list[int]) -> dict:
        out = {}
        for k, v in batch.items():
            dev = v.device
            out[k] = _gather_padded(v.to(_comm_device(info)), sizes).to(dev)
        return out

    return gather


def _comm_device(info: DistInfo) -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if info.backend == "nccl" else torch.device("cpu")


def ranks(info: DistInfo | None) -> Ranks:
    """The :class:`~crossmedia.models.base.Ranks` of a run: one process → ``Ranks()``."""
    return Ranks() if info is None or info.world == 1 else RankCollectives(info)


class _GatherRows(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, sizes, rank):
        ctx.rank, ctx.sizes, ctx.local_shape = rank, sizes, x.shape
        return _gather_padded(x, sizes)

    @staticmethod
    def backward(ctx, grad):
        # every rank computes the same loss from the gathered rows, so the gradient of this
        # rank's rows is simply its slice (no reduction)
        s = sum(ctx.sizes[: ctx.rank])
        g = grad[s : s + ctx.sizes[ctx.rank]]
        return g[tuple(slice(0, d) for d in ctx.local_shape)], None, None


def all_gather_rows(x: torch.Tensor, sizes: list[int], rank: int) -> torch.Tensor:
    """All ranks' rows of ``x`` in rank order; differentiable (floating tensors)."""
    if x.is_floating_point() and x.requires_grad:
        return _GatherRows.apply(x, sizes, rank)
    return _gather_padded(x, sizes)


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks whose gradient is the sum of the ranks' gradients (each rank's loss only
    reaches the sum through its own rows)."""

    @staticmethod
    def forward(ctx, x):
        y = x.clone()
        dist.all_reduce(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        g = grad.clone()
        dist.all_reduce(g)
        return g


def _synced_batchnorm(bn: nn.modules.batchnorm._BatchNorm):
    """A forward for ``bn`` that, in training, normalises with the statistics of the whole global
    batch (sums over the ranks) and updates the running statistics as one process would."""
    plain = bn.forward

    def forward(x):
        if not bn.training:
            return plain(x)
        dims = [0] + list(range(2, x.dim()))
        xf = x.float()
        n_local = x.numel() // x.shape[1]
        stats = torch.cat([xf.sum(dims), (xf * xf).sum(dims),
                           torch.full((1,), float(n_local), device=x.device)])
        stats = _AllReduceSum.apply(stats)
        c = x.shape[1]
        n = stats[-1]
        mean = stats[:c] / n
        var = (stats[c : 2 * c] / n - mean * mean).clamp_min(0.0)
        if bn.track_running_stats and bn.running_mean is not None:
            with torch.no_grad():
                bn.num_batches_tracked.add_(1)
                m = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
                unbiased = var.detach() * (n / (n - 1).clamp_min(1.0))
                bn.running_mean.mul_(1 - m).add_(mean.detach().to(bn.running_mean.dtype), alpha=m)
                bn.running_var.mul_(1 - m).add_(unbiased.to(bn.running_var.dtype), alpha=m)
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + bn.eps)
        if bn.affine:
            y = y * bn.weight.view(shape) + bn.bias.view(shape)
        return y.to(x.dtype)

    return forward


def _slice_rows(obj, n: int, s: int, e: int):
    if isinstance(obj, torch.Tensor):
        return obj[s:e] if obj.dim() > 0 and obj.shape[0] == n else obj
    if isinstance(obj, dict):
        return {k: _slice_rows(v, n, s, e) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_slice_rows(v, n, s, e) for v in obj)
    return obj


def _gather_out(obj, sizes, rank):
    if isinstance(obj, torch.Tensor):
        return all_gather_rows(obj, sizes, rank) if obj.dim() > 0 else obj
    if isinstance(obj, (list, tuple)):
        return type(obj)(_gather_out(v, sizes, rank) for v in obj)
    if isinstance(obj, dict):
        return {k: _gather_out(v, sizes, rank) for k, v in obj.items()}
    return obj


def row_modules(model) -> list[nn.Module]:
    """The model's declared row modules that exist (a name may be None for some configs)."""
    mods = []
    for name in model.row_modules:
        m = getattr(model, name)  # declared names (the model's interface), not probing
        if m is not None:
            mods.append(m)
    return mods


@contextlib.contextmanager
def sharded_rows(model, info: DistInfo, n_rows: int, stream_seed: int):
    """Within the block, each of ``model``'s row modules runs on this rank's share of any
    ``n_rows``-row input and returns the gathered outputs of all ranks. The row modules draw their
    random numbers (dropout) from a rank-specific stream seeded with ``stream_seed``, leaving the
    replicated streams of the ranks equal. With fewer rows than ranks the block is a no-op."""
    mods = row_modules(model)
    if info is None or info.world == 1 or n_rows < info.world or not mods:
        yield False
        return
    spans = row_split(n_rows, info.world)
    sizes = [e - s for s, e in spans]
    s, e = spans[info.rank]
    gen_state = {"seed": stream_seed * 7919 + info.rank}

    def wrap(fwd):
        def forward(*args, **kwargs):
            a = _slice_rows(args, n_rows, s, e)
            kw = _slice_rows(kwargs, n_rows, s, e)
            devices = [torch.cuda.current_device()] if torch.cuda.is_available() and torch.cuda.is_initialized() else []
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(gen_state["seed"])
                gen_state["seed"] += 1
                out = fwd(*a, **kw)
            return _gather_out(out, sizes, info.rank)
        return forward

    saved = []
    for m in mods:
        saved.append(m)
        m.forward = wrap(m.forward)
        for sub in m.modules():  # batch statistics over the global batch, not the rank's share
            if isinstance(sub, nn.modules.batchnorm._BatchNorm):
                saved.append(sub)
                sub.forward = _synced_batchnorm(sub)
    try:
        yield True
    finally:
        for m in saved:
            del m.forward  # back to the class's forward


def sharded_params(model) -> list[nn.Parameter]:
    seen, out = set(), []
    for m in row_modules(model):
        for p in m.parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                out.append(p)
    return out


def allreduce_grads(params: list[nn.Parameter]) -> None:
    """Sum the gradients of ``params`` over the ranks in one flat buffer (no host sync). A
    parameter without a gradient joins with zeros, so every rank takes part in the same
    collective, and keeps no gradient afterwards, as in one process: the optimizer then leaves it
    alone (a zero gradient would still move it by Adam's momentum, e.g. the text net during
    DCMH's image pass). Which parameters have a gradient is the same on every rank, since every
    rank runs the same step on its share of the same batch."""
    if not params:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    o = 0
    for p, g in zip(params, grads):
        n = g.numel()
        if p.grad is not None:
            p.grad.copy_(flat[o : o + n].view_as(p))
        o += n


def broadcast_object(obj, info: DistInfo | None, src: int = 0):
    if info is None:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def barrier(info: DistInfo | None) -> None:
    if info is not None:
        dist.barrier()


def sync_rng_from_rank0(info: DistInfo | None) -> None:
    """Give every rank rank 0's Python, numpy and torch random states (after rank-0-only work)."""
    if info is None:
        return
    st = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        st["cuda"] = torch.cuda.get_rng_state()
    st = broadcast_object(st, info)
    random.setstate(st["python"])
    np.random.set_state(st["numpy"])
    torch.set_rng_state(st["torch"])
    if "cuda" in st:
        torch.cuda.set_rng_state(st["cuda"])
