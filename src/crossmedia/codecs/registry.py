"""Codec registry: ``@register_codec("sign")`` on a :class:`~crossmedia.codecs.base.Codec`
subclass; :func:`get_codec_class`, :func:`codec_from_state`, :func:`list_codecs`."""

from __future__ import annotations

from typing import Any, Callable

from ..errors import UserError

_CODECS: dict[str, type] = {}


def register_codec(name: str) -> Callable[[type], type]:
    def deco(cls: type) -> type:
        if name in _CODECS and _CODECS[name] is not cls:
            raise ValueError(f"codec name {name!r} is already registered by {_CODECS[name].__qualname__}")
        cls.name = name
        _CODECS[name] = cls
        return cls

    return deco


def list_codecs() -> list[str]:
    return sorted(_CODECS)


def get_codec_class(name: str) -> type:
    if name not in _CODECS:
        raise UserError(f"codec {name!r}: unknown (available: {', '.join(list_codecs())})")
    return _CODECS[name]


def codec_from_state(name: str, state: dict[str, Any]):
    """Rebuild a codec saved as ``name`` + ``codec.state()`` (e.g. from an index manifest)."""
    return get_codec_class(name).from_state(state)
