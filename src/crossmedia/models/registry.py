"""Model registry, in the style of torchvision's ``register_model`` / ``get_model``.

A model class registers under a name with its default config; ``get_model`` builds it from a
(partial) config merged over those defaults, so an unknown key is caught, not ignored."""

from __future__ import annotations

import copy
from typing import Any, Callable

from ..errors import ConfigError

_REGISTRY: dict[str, type] = {}


def register_model(name: str) -> Callable[[type], type]:
    """Class decorator: ``@register_model("twotower")``. The class must define ``default_config``
    (a dict) and ``__init__(self, config: dict, info: DataInfo)``."""

    def deco(cls: type) -> type:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"model name {name!r} is already registered by {_REGISTRY[name].__qualname__}")
        if not isinstance(getattr(cls, "default_config", None), dict):
            raise TypeError(f"{cls.__qualname__} must define a dict `default_config` to be registered")
        if "bits" not in cls.default_config:
            raise TypeError(f"{cls.__qualname__}.default_config must have a 'bits' option (the code length the model "
                            "is compared at; see RetrievalModel)")
        options = flatten_options(cls.default_config)
        stray = [k for k in getattr(cls, "absent_means", {}) if k not in options]
        if stray:
            raise TypeError(f"{cls.__qualname__}.absent_means names {', '.join(stray)}, not options of its default_config")
        cls.model_name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def get_model_class(name: str) -> type:
    if name not in _REGISTRY:
        raise ConfigError(f"model.name: unknown model {name!r} (available: {', '.join(list_models()) or 'none'})")
    return _REGISTRY[name]


def model_config(name: str, overrides: dict | None = None) -> dict:
    """The model's default config with ``overrides`` merged in; unknown keys are an error.

    Options may be nested (``{"graph": {"enabled": True}}``); an override key may be dotted
    (``"graph.enabled"``) or a nested dict, and must name an existing option."""
    cls = get_model_class(name)
    cfg = copy.deepcopy(cls.default_config)
    for key, value in flatten_options(overrides or {}).items():
        if key == "name":
            continue
        parts = key.split(".")
        node = cfg
        for i, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                where = ".".join(parts[:i])
                opts = ", ".join(sorted(node)) if isinstance(node, dict) else ""
                raise ConfigError(f"model.{key}: not an option of model {name!r} "
                                  f"({'options' + (' of ' + where if where else '')}: {opts})")
            if i == len(parts) - 1:
                node[part] = value
            else:
                node = node[part]
    cfg["name"] = name
    return cfg


def flatten_options(d: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} → {"a.b": 1}, except where the default itself is a dict value to replace."""
    out: dict = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten_options(v, key + "."))
        else:
            out[key] = v
    return out


def get_model(name: str, config: dict | None = None, info: Any = None):
    """Build the registered model ``name`` from ``config`` (merged over its defaults)."""
    cls = get_model_class(name)
    return cls(model_config(name, config), info)
