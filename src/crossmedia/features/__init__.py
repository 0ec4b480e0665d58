"""Image feature extraction: pretrained backbones (:mod:`.backbones`), the feature file format
(:mod:`.store`) and batched, resumable extraction over a dataset (:mod:`.extract`)."""

from .backbones import BACKBONES, DEFAULT_BACKBONE, Backbone, build_backbone
from .extract import extract_features
from .store import FeatureSet, attach_features, load_features

__all__ = ["BACKBONES", "DEFAULT_BACKBONE", "Backbone", "build_backbone", "extract_features", "FeatureSet",
           "attach_features", "load_features"]
