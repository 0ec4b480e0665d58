"""The cross-media search service (the ``serve`` extra: FastAPI + uvicorn): a JSON API and a
web page over a read-only search index. :class:`Limits` and the image/heatmap helpers import
without the extra; :func:`create_app` needs it."""

from .limits import Limits

__all__ = ["Limits", "create_app"]


def __getattr__(name):
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(name)
