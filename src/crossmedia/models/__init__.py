"""Models, the registry they are built from (``get_model("twotower", {...}, info)``) and the one
loader of trained models (``load(run_or_checkpoint)``)."""

from .base import REGION_FEATURES, DataInfo, Ranks, RetrievalModel, TrainContext, attention_rows
from .registry import get_model, get_model_class, list_models, model_config, register_model
from .checkpoint import Checkpoint, load, load_checkpoint, save_checkpoint
from . import twotower  # noqa: F401  (registers "twotower")
from . import cmsl  # noqa: F401  (registers "cmsl" and its "cdq" preset)
from . import dafsn  # noqa: F401  (registers "dafsn")
from . import acmr, dcmh, dscmr  # noqa: F401  (baselines: registers "acmr", "dcmh", "dscmr")

__all__ = ["Checkpoint", "DataInfo", "REGION_FEATURES", "Ranks", "RetrievalModel", "TrainContext", "attention_rows", "get_model",
           "get_model_class", "list_models", "load", "load_checkpoint", "model_config", "register_model",
           "save_checkpoint"]
