"""Training plumbing: run directories and the trainer. Trained models load with
:func:`crossmedia.models.load`."""

from .rundir import RunDir
from .trainer import build_model, train

__all__ = ["RunDir", "build_model", "train"]
