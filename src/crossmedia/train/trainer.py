"""Training plumbing shared by every registered model.

Seeded and reproducible (the epoch's batch order is derived from (seed, epoch), and every RNG
state — Python, numpy, torch, CUDA — is checkpointed and restored, so an interrupted and resumed
run matches an uninterrupted one); a progress bar over batches; per-epoch validation that picks
``best.pt`` (weights only) under ``train.val_rule`` (default ``heldout``: the protocol's ``val``
queries against held-out ``val`` items, never a training item and never the test queries; see
:meth:`Protocol.validation_folds`); ``last.pt`` (weights + optimizer, scheduler, RNG states)
written atomically after every epoch for ``--resume``. Both are
:mod:`crossmedia.models.checkpoint` files.

Threads: CPU float results depend on the torch thread count (reductions are split differently).
``train.deterministic`` trains single-threaded with torch's deterministic algorithms, so a run
is bit-reproducible whatever ``train.threads`` or the machine's core count; the run's info
records the thread count and device either way.

A run folder survives being killed at any moment: ``last.pt`` carries the epoch log (in its
``meta``), so ``log.jsonl`` is rebuilt from it on resume (a record appended after the checkpoint
can never be lost or duplicated); temporary files of interrupted writes are removed at start;
and a run killed before its first checkpoint resumes from scratch. Training and data loading run
under the memory guard (:mod:`crossmedia.guard`, ``train.max_memory_gb``).
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import random
import shutil
import time
from pathlib import Path

import json

import numpy as np
import torch

from ..config import check_device, resolve_config
from ..data.loading import RunData, load_run_data
from ..data.streaming import batch_source
from ..errors import UserError
from ..eval.evaluator import check_validation, relevance_statistics, validate
from ..guard import memory_guard
from ..io import clean_tmp, write_json
from ..models import DataInfo, TrainContext, get_model, save_checkpoint
from ..models.checkpoint import read_checkpoint
from ..progress import progress
from ..runtime import torch_settings
from ..seed import cpu_identity, git_commit, seeded
from . import distributed as ddp
from .rundir import RunDir


def build_model(cfg: dict, run_data: RunData):
    t = run_data.tensors
    info = DataInfo(
        n_labels=run_data.dataset.n_labels,
        vocab=run_data.vocab.to_list(),
        image_size=t.image_size,
        text_field=cfg["data"]["text_field"] or run_data.text_field,
        max_tokens=int(cfg["data"]["max_tokens"]),
        image_feature_dim=None if t.image_source == "pixels" else int(t.images.shape[-1]),
        extra={**({} if t.regions is None else {"region_dim": int(t.regions.shape[-1]),
                                                                   "region_count": int(t.regions.shape[1])}),
               "tokenizer": run_data.vocab.tokenizer.spec,
               **({} if run_data.vocab.unseen is None else {"unseen_words": run_data.vocab.unseen.spec()})},
    )
    return get_model(cfg["model"]["name"], cfg["model"], info)


def check_model_options(cfg: dict) -> None:
    """Build the model once on a stand-in of the data so that a bad model option (``model.bits=33``)
    is refused before any image is loaded. Only errors about ``model.*`` options are raised here;
    whatever depends on the real data is checked when the model is built for it."""
    from ..errors import ConfigError

    d = cfg["data"]
    features = d.get("image_source") == "features"
    info = DataInfo(n_labels=4, vocab=["<pad>", "<unk>", "red", "circle"], image_size=None if features else int(d.get("image_size") or 72),
                    text_field=d.get("text_field") or "tags", max_tokens=int(d.get("max_tokens") or 32),
                    image_feature_dim=16 if features else None, extra={"region_dim": 16} if features else {})
    try:
        with torch.random.fork_rng(devices=[]):  # its weights are thrown away: the caller's stream stays as it was
            get_model(cfg["model"]["name"], cfg["model"], info)
    except ConfigError as e:
        if str(e).startswith("model."):
            raise
    except Exception:  # noqa: BLE001 - anything else depends on the real data; checked when it is loaded
        pass


def train(cfg: dict, out: str | Path, *, resume: bool = False, overwrite: bool = False,
          data_root: str | Path | None = None, echo=None) -> RunDir:
    """Train ``cfg`` into run directory ``out`` (or continue it with ``resume``; ``data_root``
    then overrides the dataset folder the run recorded). ``echo`` (e.g. ``print``) gets one line
    per epoch: mean loss, validation score, time."""
    run = RunDir(out)
    if resume:
        if not run.path.is_dir():
            raise UserError(f"{run.path}: no run directory to resume (start it without --resume)")
        clean_tmp(run.path)
        clean_tmp(run.checkpoints)
        if not run.config_path.is_file():
            raise UserError(f"{run.config_path}: not found; {run.path} holds no run to resume (start it without "
                            "--resume, with --overwrite if the folder is not empty)")
        cfg = resolve_config(run.load_config())
        cfg["data"]["root"] = run.data_root(data_root, cfg)
    elif run.path.exists() and not run.path.is_dir():
        raise UserError(f"--out {run.path}: exists and is not a folder")
    elif run.path.is_dir() and any(run.path.iterdir()) and not overwrite:
        raise UserError(f"{run.path}: run directory exists and is not empty (use --resume to continue it or --overwrite to start over)")
    check_device(cfg["train"].get("device") or "cpu")
    from_scratch = resume and not run.checkpoint("last").is_file()  # killed before its first checkpoint
    saved_vocab = None
    if resume and not from_scratch and (run.path / "vocab.json").is_file():
        saved_vocab = json.loads((run.path / "vocab.json").read_text(encoding="utf-8"))
    if not resume:
        check_model_options(cfg)  # before the (slow) data loading
    device = str(cfg["train"].get("device") or "cpu")
    created, dist = False, None
    try:
        with memory_guard(cfg["train"].get("max_memory_gb"), f"train {cfg['model']['name']}", "train.max_memory_gb",
                          enabled=device == "cpu"):
            # load (and validate) the data before anything is written, so a bad dataset leaves no run dir
            rd = load_run_data(cfg["data"], vocab_words=saved_vocab)
            dist, dev = ddp.init_from_env(device)  # torchrun: one rank per process
            main = dist is None or dist.is_main
            if not resume:  # the saved config records what was resolved: absolute data root, text field
                cfg = {**cfg, "data": {**cfg["data"], "root": str(rd.dataset.root.resolve()), "text_field": rd.text_field}}
            if not resume and main:
                run.create(cfg, overwrite=overwrite)
                created = True
                run.record_data_root(rd.dataset.root)
                run.update_info(vocabulary={"size": len(rd.vocab), "source": rd.vocab_source})
            ddp.barrier(dist)
            return _train(cfg, run, rd, resume and not from_scratch, dist, dev, echo if main else None)
    except UserError:
        if created and not run.checkpoint("last").is_file():
            shutil.rmtree(run.path, ignore_errors=True)
        raise
    finally:
        ddp.shutdown(dist)


def _train(cfg: dict, run: RunDir, rd: RunData, resume: bool, dist=None, device=None, echo=None) -> RunDir:
    tc = cfg["train"]
    deterministic = bool(tc.get("deterministic"))
    threads = 1 if deterministic else tc.get("threads")
    # CPU arithmetic on subnormal floats (|x| < 1.2e-38) is many times slower than on normal ones;
    # a model whose activations drift there (a trained DAFSN's do) then trains several times
    # slower for nothing: they are flushed to zero while training (benchmarks/bench_denormal.py).
    # Threads, deterministic mode and flushing are the caller's again on return, and so are the
    # global generators (weight initialisation, dropout), which start from train.seed
    with torch_settings(threads=threads, deterministic=True if deterministic else None, flush_denormal=True), \
            seeded(int(tc["seed"])):
        return _train_loop(cfg, run, rd, resume, dist, device, echo)


def machine_record(device) -> dict:
    """What a CPU result depends on beyond the config: torch's thread count and the device."""
    return {"device": str(device), "torch_threads": torch.get_num_threads(),
            "deterministic": torch.are_deterministic_algorithms_enabled(),
            # whether subnormal floats are flushed now (training turns it on where the CPU can)
            "flush_denormal": bool((torch.tensor([1e-39]) * 1.0)[0] == 0), "torch": torch.__version__,
            "cpu": f"{platform.machine()} ({os.cpu_count()} cores)",
            # the CPU's generation and torch's kernel instruction set: runs reproduce bit for bit
            # only where these (and torch) are the same
            **{k: v for k, v in cpu_identity().items() if k != "cpu"}}


def build_optimizer(model, tc: dict) -> torch.optim.Optimizer:
    """``train.optimizer``: the model's Adam (its parameter groups, ``train.adam_betas``), or
    plain SGD over the same parameter groups."""
    opt = model.configure_optimizer(lr=float(tc["lr"]), weight_decay=float(tc["weight_decay"]),
                                    betas=tuple(float(b) for b in tc["adam_betas"]))
    if tc["optimizer"] == "sgd":
        groups = [{"params": g["params"], "lr": g["lr"], "weight_decay": g.get("weight_decay", 0.0)}
                  for g in opt.param_groups]
        opt = torch.optim.SGD(groups, lr=float(tc["lr"]))
    return opt


def build_scheduler(opt, tc: dict):
    """``exponential``: × ``lr_decay`` after each epoch; ``linear``: from ``lr`` at the first
    epoch to ``lr_end`` at the last (each parameter group scaled alike)."""
    if tc["lr_schedule"] == "linear":
        epochs, lr, end = int(tc["epochs"]), float(tc["lr"]), float(tc["lr_end"])

        def factor(e: int) -> float:
            return 1.0 + (end / lr - 1.0) * min(e, max(epochs - 1, 0)) / max(epochs - 1, 1)

        return torch.optim.lr_scheduler.LambdaLR(opt, factor)
    return torch.optim.lr_scheduler.ExponentialLR(opt, gamma=float(tc["lr_decay"]))


def epoch_batches(n: int, bs: int, order: str, drop_last: bool, seed: int, epoch: int) -> list[torch.Tensor]:
    """Positions (into the training split) of each batch of an epoch: ``shuffle`` a seeded
    permutation, ``fixed`` the dataset's order, ``sample`` an independent random batch per step
    (DCMH's sampling); ``drop_last`` skips a last, smaller batch."""
    steps = n // bs if drop_last else math.ceil(n / bs)
    steps = max(1, steps)
    g = torch.Generator().manual_seed(seed * 1000003 + epoch)
    if order == "sample":
        return [torch.randperm(n, generator=g)[:bs] for _ in range(steps)]
    perm = torch.arange(n) if order == "fixed" else torch.randperm(n, generator=g)
    return [perm[s * bs : (s + 1) * bs] for s in range(steps)]


def _train_loop(cfg: dict, run: RunDir, rd: RunData, resume: bool, dist=None, device=None, echo=None) -> RunDir:
    tc = cfg["train"]
    seed = int(tc["seed"])
    device = torch.device(device or tc.get("device") or "cpu")
    main = dist is None or dist.is_main
    if main:
        write_json(run.path / "vocab.json", rd.vocab.to_list())
    model = build_model(cfg, rd).to(device)
    train_idx = torch.as_tensor(rd.protocol["train"], dtype=torch.long)
    ctx = TrainContext(run_data=rd, train_idx=train_idx, device=device, config=cfg, ranks=ddp.ranks(dist))
    model.setup_training(ctx)
    opt = build_optimizer(model, tc)
    sched = build_scheduler(opt, tc)
    val_every = int(tc.get("val_every") or 0)
    if val_every:
        check_validation(rd, cfg)  # before any epoch: a protocol without val items is a one-line error

    start_epoch, best, best_epoch, elapsed = 0, -math.inf, None, 0.0
    records: list[dict] = []
    if resume:
        ck = read_checkpoint(run.checkpoint("last"), device)
        if "training" not in ck:
            raise UserError(f"{run.checkpoint('last')}: holds no training state (written by an older crossmedia); "
                            "start the run again")
        model.load_state_dict(ck["model"])
        tr = ck["training"]
        opt.load_state_dict(tr["optimizer"])
        sched.load_state_dict(tr["scheduler"])
        set_rng_states(tr["rng"])
        meta = ck["meta"]
        start_epoch, best, best_epoch, elapsed = meta["epoch"], meta["best"], meta["best_epoch"], meta.get("elapsed", 0.0)
        records = list(meta["log"]) if "log" in meta else run.read_log()[: int(start_epoch)]
        if main:
            run.write_log(records)  # exactly the epochs the checkpoint holds
            run.log_text(f"resumed at epoch {start_epoch}" + (f" on {dist.world} processes" if dist else ""))
    elif main:
        run.write_log([])
        run.update_info(
            status="running", model=cfg["model"]["name"], started=time.strftime("%Y-%m-%dT%H:%M:%S"),
            git_commit=git_commit(), dataset=rd.dataset.name,
            protocol=rd.protocol.summary(), seed=seed, machine=machine_record(device),
            tokenizer=rd.vocab.tokenizer.spec,
        )
    epochs, bs = int(tc["epochs"]), int(tc["batch_size"])
    n_train = len(train_idx)
    tb = _tensorboard(run) if tc.get("tensorboard") and main else None
    sharded = ddp.sharded_params(model) if dist is not None else []
    autocast = _autocast(tc, device)
    batch_iter = batch_source(rd, cfg, device, rank=dist.rank if dist else 0, world=dist.world if dist else 1,
                              gather=ddp.batch_gatherer(dist))
    for epoch in range(start_epoch, epochs):
        t0 = time.perf_counter()
        model.train()
        record: dict = {"epoch": epoch + 1}
        record.update(model.on_epoch_start(epoch, ctx))
        batches = epoch_batches(n_train, bs, tc["batch_order"], bool(tc["drop_last"]), seed, epoch)
        if tc.get("max_steps"):  # a capped epoch: its first max_steps batches
            batches = batches[: int(tc["max_steps"])]
        steps = len(batches)
        # loss terms summed on the device; the host reads them every LOG_EVERY steps only
        sums: dict[str, torch.Tensor] = {}
        steps_iter = progress(range(steps), desc=f"epoch {epoch + 1}/{epochs}", unit="batch") if main else range(steps)
        for step, batch in zip(steps_iter, batch_iter(train_idx, batches, epoch)):
            pos = batch["pos"]
            with autocast, ddp.sharded_rows(model, dist, len(pos), seed * 1000003 + epoch * 10007 + step) as split:
                out = model.training_step(batch, epoch, (epoch + step / steps) / max(epochs, 1))
            loss = out["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if split:
                ddp.allreduce_grads(sharded)
            opt.step()
            for k, v in out.items():
                v = v.detach().to(torch.float64 if device.type != "mps" else torch.float32)
                sums[k] = sums[k] + v if k in sums else v
            if (step + 1) % LOG_EVERY == 0 or step + 1 == steps:
                total = float(sums["loss"])  # one host sync per LOG_EVERY steps
                if not math.isfinite(total):
                    raise RuntimeError(f"loss became {total} at epoch {epoch + 1}, by step {step}; lower train.lr")
                if main:  # the other ranks iterate a plain range
                    steps_iter.set_postfix(loss=f"{total / (step + 1):.4f}")
        sched.step()
        record.update({k: float(v) / steps for k, v in sums.items()})
        if val_every and ((epoch + 1) % val_every == 0 or epoch + 1 == epochs):
            if main:  # validation and model selection once, on rank 0
                val = validate(model, rd, cfg, device)
                record.update(val)
                score = val["val_score"]
                if score > best:
                    best, best_epoch = score, epoch + 1
                    _save(run.checkpoint("best"), model, opt, sched, epoch + 1, best, best_epoch, elapsed, cfg,
                          weights_only=True, log=records + [record])
            ddp.sync_rng_from_rank0(dist)
        elapsed += time.perf_counter() - t0
        record["time_s"] = round(time.perf_counter() - t0, 3)
        record["samples"] = int(sum(len(b) for b in batches))
        records.append(record)
        if main:
            if not val_every:
                best_epoch = epoch + 1
                _save(run.checkpoint("best"), model, opt, sched, epoch + 1, best, best_epoch, elapsed, cfg,
                      weights_only=True, log=records)
            _save(run.checkpoint("last"), model, opt, sched, epoch + 1, best, best_epoch, elapsed, cfg, log=records)
            run.log_epoch(record)
            if echo is not None:
                echo(epoch_line(record, epochs, tc["val_metric"], best_epoch == epoch + 1 and "val_score" in record))
        ddp.barrier(dist)
        if tb is not None:
            for k, v in record.items():
                if k != "epoch" and isinstance(v, (int, float)):
                    tb.add_scalar(k, v, epoch + 1)
            tb.flush()
    if not main:
        return run
    if epochs == 0 or not run.checkpoint("best").is_file():
        _save(run.checkpoint("best"), model, opt, sched, epochs, best, best_epoch, elapsed, cfg, weights_only=True,
              log=records)
        _save(run.checkpoint("last"), model, opt, sched, epochs, best, best_epoch, elapsed, cfg, log=records)
    still_rising = bool(val_every) and epochs > 1 and best_epoch == epochs and _val_rose_at_end(run)
    run.update_info(still_improving=still_rising)
    if val_every:
        selection = (f"best {tc['val_metric']} (mean of both directions) every {val_every} epoch(s); "
                     + rd.protocol.validation_rule_text(tc["val_rule"]))
        rel = relevance_statistics(rd, tc["val_rule"])
    else:
        selection, rel = "none (train.val_every=0): the last epoch", None
    run.update_info(status="done", finished=time.strftime("%Y-%m-%dT%H:%M:%S"), epochs=epochs,
                    best_epoch=best_epoch, best_val_score=None if best == -math.inf else best,
                    val_selection=selection, val_rule=tc["val_rule"] if val_every else None,
                    relevance_statistics=rel, train_time_s=round(elapsed, 3), machine=machine_record(device))
    return run


#: steps between the host reads of the accumulated loss (finite check, progress bar)
LOG_EVERY = 50


def _autocast(tc: dict, device: torch.device):
    """``train.precision``: ``fp32`` (no autocast) or ``bf16`` (autocast of the training step)."""
    prec = str(tc.get("precision") or "fp32")
    if prec == "fp32":
        return contextlib.nullcontext()
    if prec == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    raise UserError(f"train.precision: expected fp32 or bf16, got {prec!r}")


def epoch_line(record: dict, epochs: int, metric: str, is_best: bool) -> str:
    """``epoch  3/12  loss 0.4321  val map_all 0.5123 (best)  4.2 s``."""
    line = f"epoch {record['epoch']:>3}/{epochs}  loss {record.get('loss', float('nan')):.4f}"
    if "val_score" in record:
        line += f"  val {metric} {record['val_score']:.4f}" + (" (best)" if is_best else "")
    return line + f"  {record.get('time_s', 0):.1f} s"


def _val_rose_at_end(run: RunDir) -> bool:
    """The validation score rose over the last validated epoch (training stopped while it still improved)."""
    scores = [r["val_score"] for r in run.read_log() if isinstance(r.get("val_score"), (int, float))]
    return len(scores) >= 2 and scores[-1] > scores[-2]


def _tensorboard(run: RunDir):
    """A TensorBoard writer in ``RUN/tensorboard`` (needs the ``tensorboard`` package)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UserError("train.tensorboard: the tensorboard package is not installed (pip install tensorboard)") from None
    return SummaryWriter(str(run.path / "tensorboard"))


def rng_states() -> dict:
    """Every RNG state a run draws from: Python's, numpy's global, torch's CPU and CUDA ones."""
    st = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def set_rng_states(st: dict) -> None:
    """Restore :func:`rng_states` (on resume)."""
    random.setstate(st["python"])
    np.random.set_state(st["numpy"])
    torch.set_rng_state(st["torch"].cpu())
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def _save(path, model, opt, sched, epoch, best, best_epoch, elapsed, cfg, *, weights_only: bool = False,
          log=()) -> None:
    """``best.pt``: weights only; ``last.pt``: also optimizer, scheduler and RNG states (resume).
    Both carry the epoch log up to ``epoch`` (``meta["log"]``), from which ``log.jsonl`` is rebuilt."""
    meta = {"epoch": epoch, "best": best, "best_epoch": best_epoch, "elapsed": elapsed, "log": list(log)}
    training = None if weights_only else {"optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                                          "rng": rng_states()}
    save_checkpoint(path, model, config=cfg, meta=meta, training=training)
