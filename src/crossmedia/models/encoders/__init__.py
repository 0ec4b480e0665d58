"""Image and text encoders shared by the models."""

from .small_cnn import SmallCNN
from .text_mlp import BowMLP

__all__ = ["SmallCNN", "BowMLP"]
