"""Datasets, protocols, text processing and the embedded synthetic scene generator."""

from .dataset import Dataset
from .protocol import SPLITS, Protocol
from .text import Vocabulary, tokenize

__all__ = ["Dataset", "Protocol", "SPLITS", "Vocabulary", "tokenize"]
