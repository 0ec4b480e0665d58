"""A run directory: everything one training run produced, enough to reproduce and resume it.

    config.yaml       the resolved config (re-run with ``crossmedia train --config config.yaml``)
    run.json          status, start/end time, git commit, dataset and protocol, best epoch
    vocab.json        the vocabulary built from the training split
    log.jsonl         one line per epoch: losses, validation score, wall time
    train.log         human-readable log
    checkpoints/last.pt, checkpoints/best.pt   (written atomically)
    results.json, results.md, *.png            written by ``crossmedia eval``
"""

from __future__ import annotations

import json
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
