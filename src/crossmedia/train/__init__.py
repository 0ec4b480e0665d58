"""Training plumbing: run directories, the trainer, checkpoint loading."""

from .rundir import RunDir
from .trainer import build_model, load_trained, train

__all__ = ["RunDir", "build_model", "load_trained", "train"]
