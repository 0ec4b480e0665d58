"""The one way to save and load a model: a checkpoint holds everything needed to rebuild it —
the registered model name, its resolved config, the :class:`~crossmedia.models.DataInfo` it was
built for (vocabulary, image size / feature dims) and its weights — so :func:`load` needs no
dataset. Used by training (``last.pt`` / ``best.pt``), evaluation, the search index
(``model.pt``), ``explain`` and the service.

Format (``torch.save`` of a dict):

=================  ==========================================================================
``format``         ``"crossmedia-checkpoint"``
``format_version`` :data:`CHECKPOINT_VERSION` (2); a file without it is version 1 (older
                   crossmedia) and still loads
``model_name``     registry name;  ``model_config``: the model's resolved options
``info``           ``DataInfo`` as a dict;  ``model``: the state dict
``config``         the run's resolved config (or None)
``meta``           epoch, best score, best epoch, elapsed seconds (training runs)
``training``       ``last.pt`` only: optimizer, scheduler and every RNG state, for ``--resume``
=================  ==========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import UserError
from ..io import torch_save
from .base import DataInfo, RetrievalModel
from .registry import get_model

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "Checkpoint", "checkpoint_dict", "checkpoint_path", "load",
           "load_checkpoint", "model_from_checkpoint", "read_checkpoint", "save_checkpoint"]

CHECKPOINT_FORMAT = "crossmedia-checkpoint"
CHECKPOINT_VERSION = 2


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model (eval mode), the run config it was trained with (None for a
    bare model file), training metadata and the file it came from."""

    model: RetrievalModel
    config: dict | None
    meta: dict = field(default_factory=dict)
    path: Path | None = None


def checkpoint_dict(model: RetrievalModel, *, config: dict | None = None, meta: dict | None = None,
                    training: dict | None = None) -> dict[str, Any]:
    """The checkpoint dict of ``model`` (what :func:`save_checkpoint` writes)."""
    blob: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION,
        "model_name": model.model_name, "model_config": dict(model.config), "info": model.info.to_dict(),
        "model": model.state_dict(), "config": config, "meta": dict(meta or {}),
    }
    if training is not None:
        blob["training"] = training
    return blob


def save_checkpoint(path, model: RetrievalModel, *, config: dict | None = None, meta: dict | None = None,
                    training: dict | None = None) -> Path:
    """Write ``model`` (and, for a resumable checkpoint, ``training`` state) atomically to ``path``."""
    torch_save(checkpoint_dict(model, config=config, meta=meta, training=training), path)
    return Path(path)


def checkpoint_path(checkpoint_or_run, which: str = "best") -> Path:
    """A checkpoint file, or ``RUN/checkpoints/<which>.pt`` of a run directory."""
    p = Path(checkpoint_or_run)
    if not p.exists():
        raise UserError(f"{p}: not found (not a crossmedia run directory or checkpoint file)")
    if p.is_dir():
        if (p / "checkpoints").is_dir() or (p / "config.yaml").is_file():
            p = p / "checkpoints" / f"{which}.pt"
        else:
            raise UserError(f"{p}: not a crossmedia run directory (no checkpoints/ folder) nor a checkpoint file")
    if not p.is_file():
        raise UserError(f"{p}: checkpoint not found; has the run finished training?")
    return p


def read_checkpoint(path, device="cpu") -> dict:
    """The checkpoint dict of ``path`` in the current format (version 1 files are converted)."""
    path = Path(path)
    try:
        ck = torch.load(path, map_location=device, weights_only=False)
    except Exception as e:  # a truncated or foreign file: pickle/zip errors of many kinds
        raise UserError(f"{path}: not a readable checkpoint ({e.__class__.__name__})") from None
    if not isinstance(ck, dict):
        raise UserError(f"{path}: not a crossmedia checkpoint")
    if "format" not in ck:  # version 1: {"model", "info", "config", optimizer, ...}
        if not {"model", "info", "config"} <= set(ck):
            raise UserError(f"{path}: not a crossmedia checkpoint (no format, model, info or config fields)")
        cfg = ck["config"]
        ck = {"format": CHECKPOINT_FORMAT, "format_version": 1, "model_name": cfg["model"]["name"],
              "model_config": cfg["model"], "info": ck["info"], "model": ck["model"], "config": cfg,
              "meta": {k: ck[k] for k in ("epoch", "best", "best_epoch", "elapsed") if k in ck}}
    if ck.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"{path}: expected format {CHECKPOINT_FORMAT!r}, got {ck.get('format')!r}")
    if int(ck.get("format_version", 0)) > CHECKPOINT_VERSION:
        raise UserError(f"{path}: checkpoint format_version {ck['format_version']} is newer than this crossmedia "
                        f"reads ({CHECKPOINT_VERSION}); upgrade crossmedia")
    return ck


def model_from_checkpoint(ck: dict, device="cpu") -> RetrievalModel:
    """Build the registered model of a checkpoint dict and load its weights (eval mode)."""
    model = get_model(ck["model_name"], ck["model_config"], DataInfo(**ck["info"]))
    model.load_state_dict(ck["model"])
    return model.to(device).eval()


def load_checkpoint(checkpoint_or_run, which: str = "best", device="cpu") -> Checkpoint:
    """The model of a checkpoint file or run directory (``which``: best or last), built from the
    checkpoint alone, with its run config and metadata."""
    path = checkpoint_path(checkpoint_or_run, which)
    ck = read_checkpoint(path, device)
    return Checkpoint(model_from_checkpoint(ck, device), ck.get("config"), dict(ck.get("meta") or {}), path)


def load(checkpoint_or_run, which: str = "best", device="cpu") -> RetrievalModel:
    """``crossmedia.models.load(RUN_OR_FILE)``: the trained model in eval mode (no dataset read)."""
    return load_checkpoint(checkpoint_or_run, which, device).model
