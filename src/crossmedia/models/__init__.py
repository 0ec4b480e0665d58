"""Models and the registry they are built from (``get_model("twotower", {...}, info)``)."""

from .base import DataInfo, RetrievalModel, TrainContext
from .registry import get_model, get_model_class, list_models, model_config, register_model
from . import twotower  # noqa: F401  (registers "twotower")
from . import cmsl  # noqa: F401  (registers "cmsl" and its "cdq" preset)
from . import dafsn  # noqa: F401  (registers "dafsn")
from . import acmr, dcmh, dscmr  # noqa: F401  (baselines: registers "acmr", "dcmh", "dscmr")

__all__ = ["DataInfo", "RetrievalModel", "TrainContext", "get_model", "get_model_class", "list_models", "model_config", "register_model"]
