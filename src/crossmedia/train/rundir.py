"""A run directory: everything one training run produced, enough to reproduce and resume it.

    config.yaml       the resolved config (re-run with ``crossmedia train --config config.yaml``)
    run.json          status, start/end time, git commit, dataset (absolute path and path relative
                      to the run, so a moved run still finds it) and protocol, best epoch
    vocab.json        the vocabulary built from the training split
    log.jsonl         one line per epoch: losses, validation score, wall time
    train.log         human-readable log
    checkpoints/last.pt, checkpoints/best.pt   (written atomically)
    results.json, results.md, *.png            written by ``crossmedia eval``
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import yaml

from ..config import dump_config
from ..errors import UserError
from ..io import write_json, write_text


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    # paths
    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    def checkpoint(self, which: str = "best") -> Path:
        return self.checkpoints / f"{which}.pt"

    # lifecycle
    def create(self, cfg: dict, overwrite: bool = False) -> None:
        from ..io import clean_tmp

        clean_tmp(self.path)  # leftovers of a run killed while writing its first file
        if self.path.exists() and any(self.path.iterdir()):
            if not overwrite:
                raise UserError(f"{self.path}: run directory exists and is not empty (use --resume to continue it or --overwrite to start over)")
            import shutil

            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        write_text(self.config_path, dump_config(cfg))

    def load_config(self) -> dict:
        if not self.config_path.is_file():
            raise UserError(f"{self.config_path}: not found; {self.path} is not a crossmedia run directory")
        try:
            return yaml.safe_load(self.config_path.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            raise UserError(f"{self.config_path}: malformed YAML") from None

    def record_data_root(self, root: str | Path) -> dict:
        """Record the dataset folder by absolute path and by path relative to the run (run.json
        ``data``), so the run works from any working directory and after both are moved together."""
        root = Path(root).resolve()
        rec = {"root": str(root), "root_relative_to_run": os.path.relpath(root, self.path.resolve())}
        self.update_info(data=rec)
        return rec

    def data_root(self, override: str | Path | None = None, cfg: dict | None = None) -> str:
        """The run's dataset folder: ``override`` (``--data``) when given, else the path recorded
        relative to the run, else the recorded absolute path, else the config's ``data.root``.
        Neither resolving is a UserError naming both paths."""
        if override is not None:
            return str(override)
        rec = self.info().get("data") or {}
        tried: list[str] = []
        candidates: list[Path] = []
        if rec.get("root_relative_to_run"):
            candidates.append(self.path / rec["root_relative_to_run"])
        if rec.get("root"):
            candidates.append(Path(rec["root"]))
        root = ((cfg or {}).get("data") or {}).get("root")
        if root:
            candidates.append(Path(root))
        for c in candidates:
            if (c / "dataset.json").is_file():
                return str(c)
            tried.append(str(c))
        if not tried:
            raise UserError(f"{self.path}: the run records no dataset folder; pass --data DIR")
        rel = rec.get("root_relative_to_run")
        where = (f"{rec.get('root')} (recorded path) nor at {self.path / rel} (relative to the run)" if rel and rec.get("root")
                 else " nor at ".join(dict.fromkeys(tried)))
        raise UserError(f"{self.path}: dataset not found at {where}; pass --data DIR")

    def info(self) -> dict:
        p = self.path / "run.json"
        return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}

    def update_info(self, **fields: Any) -> dict:
        info = self.info()
        info.update(fields)
        write_json(self.path / "run.json", info)
        return info

    def log_epoch(self, record: dict) -> None:
        """Append to ``log.jsonl`` and rewrite ``log.csv`` (columns = every key seen so far)."""
        with open(self.path / "log.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        self.log_text(" ".join(f"{k}={_fmt(v)}" for k, v in record.items()))
        self._write_csv(self.read_log())

    def write_log(self, records: list[dict]) -> None:
        """Replace ``log.jsonl`` and ``log.csv`` with ``records`` (atomically; used on resume to
        make the log match the checkpoint)."""
        write_text(self.path / "log.jsonl", "".join(json.dumps(r) + "\n" for r in records))
        if records:
            self._write_csv(records)
        elif (self.path / "log.csv").exists():
            (self.path / "log.csv").unlink()

    def _write_csv(self, rows: list[dict]) -> None:
        cols: list[str] = []
        for r in rows:
            cols += [k for k in r if k not in cols]
        lines = [",".join(cols)] + [",".join("" if r.get(c) is None else str(r[c]) for c in cols) for r in rows]
        write_text(self.path / "log.csv", "\n".join(lines) + "\n")

    def read_log(self) -> list[dict]:
        p = self.path / "log.jsonl"
        if not p.is_file():
            return []
        out = []
        for line in p.read_text(encoding="utf-8").splitlines():
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:  # a line cut short by a kill: the checkpoint's log replaces it
                    break
        return out

    def log_text(self, line: str) -> None:
        with open(self.path / "train.log", "a", encoding="utf-8") as f:
            f.write(time.strftime("%Y-%m-%d %H:%M:%S ") + line + "\n")


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)
