"""The codec interface: how a model's continuous outputs are stored and compared.

A :class:`Codec` turns the real-valued outputs of a model's encoders into what a database stores
(packed bits, quantization codes, float vectors) and says how a continuous query is compared with
those stored codes — for the metrics (:meth:`Codec.scorer`, a :class:`crossmedia.metrics.Scorer`)
and for search (:meth:`Codec.engine`, a :class:`crossmedia.engines.Engine`). A codec with
learned state (codebooks, a projection) is fitted once with :meth:`Codec.fit` on training-split
outputs and travels with an index as ``name`` + :meth:`Codec.state`.

Conventions shared by every codec:

* queries stay continuous (float); only the database side is encoded;
* ``scorer(queries, codes)`` gives distances (lower = better) and
  ``engine(codes).search(queries, k)`` scores (higher = better) of the *same* comparison, so an
  evaluation and a search over one index rank alike;
* ``state()`` holds JSON scalars/lists and numpy arrays only; ``codec_from_state(name, state)``
  rebuilds an equal codec.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..errors import UserError

__all__ = ["Codec", "as_numpy"]


def as_numpy(x) -> np.ndarray:
    """float32 numpy array from a numpy array or a (CPU or device) torch tensor."""
    if hasattr(x, "detach"):  # torch.Tensor without importing torch here
        x = x.detach().cpu().float().numpy()
    return np.ascontiguousarray(np.asarray(x, dtype=np.float32))


class Codec:
    """Base class of registered codecs (see the module docstring)."""

    #: registry name (set by :func:`crossmedia.codecs.register_codec`)
    name: ClassVar[str] = "base"
    #: what the stored representation is: "binary", "quantized" or "real"
    kind: ClassVar[str] = "real"
    #: search engines that can scan this codec's codes; the first is the default
    engines: ClassVar[tuple[str, ...]] = ()
    #: True when :meth:`fit` must see training data before :meth:`encode` works
    needs_fit: ClassVar[bool] = False

    dim: int  # width of the continuous vectors it encodes

    # ------------------------------------------------------------------ fitting
    def fit(self, x, *, seed: int = 0) -> "Codec":
        """Learn the codec's state from training vectors ``x`` (N, dim) — for cross-media
        codecs the image and text outputs of the training split stacked. Returns self."""
        return self

    # ------------------------------------------------------------------ coding
    def prepare(self, x) -> np.ndarray:
        """The continuous vectors as this codec compares them (e.g. l2-normalised); queries and
        database items go through it alike."""
        return as_numpy(x)

    def encode(self, x) -> np.ndarray:
        """Database codes of ``x`` (N, dim)."""
        raise NotImplementedError

    def scorer(self, queries, codes):
        """A :class:`crossmedia.metrics.Scorer` of continuous ``queries`` against stored ``codes``."""
        raise NotImplementedError

    def engine(self, codes, name: str | None = None):
        """A search :class:`~crossmedia.engines.Engine` over ``codes`` taking continuous
        queries (``name`` one of :attr:`engines`, default the first)."""
        raise NotImplementedError

    def engine_name(self, name: str | None) -> str:
        """``name`` checked against :attr:`engines` (None: the default, the first)."""
        name = name or self.engines[0]
        if name not in self.engines:
            raise UserError(f"--engine {name}: not available for {self.name} codes (use {' or '.join(self.engines)})")
        return name

    # ------------------------------------------------------------------ description
    @property
    def code_bytes(self) -> float:
        """Bytes stored per database item."""
        raise NotImplementedError

    def spec(self) -> dict:
        """The ranking convention, recorded next to every number computed with this codec."""
        return {"codec": self.name, "representation": self.kind, "code_bytes": self.code_bytes}

    # ------------------------------------------------------------------ state
    def state(self) -> dict[str, Any]:
        """Everything needed to rebuild this codec: JSON scalars/lists and numpy arrays."""
        raise NotImplementedError

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "Codec":
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec()})"


class _PreparedEngine:
    """An engine whose queries first go through a codec's :meth:`Codec.prepare` (a projection):
    the search engines themselves only see vectors in the coded space."""

    def __init__(self, engine, prepare):
        self._engine, self._prepare = engine, prepare
        self.name = engine.name
        self.bytes_per_item = engine.bytes_per_item

    @property
    def ntotal(self) -> int:
        return self._engine.ntotal

    def scores(self, queries):
        return self._engine.scores(self._prepare(queries))

    def search(self, queries, k: int):
        return self._engine.search(self._prepare(queries), k)

    def write(self, path) -> None:
        self._engine.write(path)
