"""Image and text encoders shared by the models."""

from .bilstm import BiLSTMEncoder
from .regions import REGION_SOURCES, RegionEncoder, build_region_encoder
from ...features.small_cnn import SmallCNN
from .text_mlp import BowMLP

__all__ = ["SmallCNN", "BowMLP", "BiLSTMEncoder", "RegionEncoder", "build_region_encoder", "REGION_SOURCES"]
