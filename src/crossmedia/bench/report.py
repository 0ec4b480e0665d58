"""Writing a benchmark script's results: the measurements plus where they came from (git commit,
machine, time, command line) as ``OUT.json`` and a markdown table as ``OUT.md``, each replaced
atomically."""

from __future__ import annotations

import glob
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ..io import write_json, write_text
from ..seed import git_commit, machine_info

__all__ = ["group_parser", "groups_summary", "int_list", "mean_std", "measure_groups", "merge_runs", "output_path", "pooled_std",
           "protocol_line", "run_group", "run_groups", "write_report"]


def mean_std(values) -> dict:
    """Mean and sample std (ddof 1; 0.0 for one value) of the values that are not None, their
    count and the values; mean and std None when there are none — the per-seed statistic of the
    benchmark tables."""
    a = np.asarray([v for v in values if v is not None], dtype=float)
    if a.size == 0:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if a.size > 1 else 0.0, "n": int(a.size),
            "values": [float(v) for v in a]}


def pooled_std(std_a: float | None, std_b: float | None) -> float | None:
    """sqrt((s_a² + s_b²) / 2), the spread two groups' difference of means is weighed against;
    None when either has no spread (a single seed: None)."""
    if std_a is None or std_b is None:
        return None
    return ((std_a ** 2 + std_b ** 2) / 2) ** 0.5


def protocol_line(rd) -> str:
    """One line naming a run's dataset, protocol (name, version, split seed) and split counts."""
    p = rd.protocol.summary()
    return (f"{rd.dataset.name}, protocol {p['name']} v{p['version']} (split seed {p['seed']}), "
            + ", ".join(f"{k} {v}" for k, v in p["counts"].items()))


def run_group(text: str) -> tuple[str, list[Path]]:
    """A ``--group NAME=GLOB`` argument → (name, the run directories the glob matches, sorted);
    a ``ValueError`` with a one-line message when the form is wrong or no run (a folder with a
    ``config.yaml``) matches."""
    name, sep, pattern = text.partition("=")
    if not sep or not name or not pattern:
        raise ValueError(f"--group {text!r}: expected NAME=GLOB of run directories")
    runs = sorted(Path(p) for p in glob.glob(pattern) if (Path(p) / "config.yaml").is_file())
    if not runs:
        raise ValueError(f"--group {name}: no run directory (with a config.yaml) matches {pattern!r}")
    return name, runs


def run_groups(texts) -> list[tuple[str, list[Path]]]:
    """Every ``--group`` argument through :func:`run_group`, in order; a ``ValueError`` when a
    name repeats."""
    parsed = [run_group(t) for t in texts]
    names = [n for n, _ in parsed]
    if len(set(names)) != len(names):
        raise ValueError("--group: each NAME once")
    return parsed


def group_parser(description: str, default_out: Path):
    """An ``argparse`` parser with the options of a script that measures groups of trained runs:
    ``--group NAME=GLOB`` (repeatable), ``--data`` (the dataset, default: the one each run
    recorded) and ``--out``; the script adds its own."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--group", action="append", required=True, help="NAME=GLOB of run directories (repeatable)")
    parser.add_argument("--data", type=Path, default=None, help="dataset folder (default: the one each run recorded)")
    parser.add_argument("--out", type=Path, default=default_out)
    return parser


def measure_groups(texts, measure: Callable[[Path], dict]) -> dict[str, list[dict]] | None:
    """{group name: [``measure(run)`` for each of its runs]} for the ``--group`` arguments
    (:func:`run_groups`); None after printing a one-line ``error: …`` to stderr when an argument
    is malformed, matches no run, or a run cannot be measured (``ValueError``, ``UserError``) — the
    script then exits 2 having written nothing."""
    from ..errors import UserError

    try:
        return {name: [measure(r) for r in runs] for name, runs in run_groups(texts)}
    except (ValueError, UserError) as e:
        print(f"error: {e}", file=sys.stderr)
        return None


def groups_summary(groups: dict[str, list[dict]]) -> dict:
    """What a report of measured groups says first: ``seeds`` ("Per group: mean ± sample std over
    its runs (seeds A: 0, 1; …)") and ``protocol`` (the runs' distinct ``protocol`` texts, joined)."""
    seeds = "; ".join(f"{n}: {', '.join(str(r['seed']) for r in runs)}" for n, runs in groups.items())
    return {"seeds": f"Per group: mean ± sample std over its runs (seeds {seeds})",
            "protocol": " | ".join(sorted({r["protocol"] for runs in groups.values() for r in runs}))}


def int_list(text: str, option: str) -> list[int]:
    """A comma-separated option value (``--seeds 0,1,2``) as integers; a ``ValueError`` whose
    message names the option and the value when a part is not an integer."""
    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise ValueError(f"{option}: expected comma-separated integers, got {text!r}") from None


def merge_runs(json_path: Path, runs: list[dict], key: Callable[[dict], tuple]) -> list[dict]:
    """The runs of this process plus those that another process (other variants or seeds,
    resuming the same results file) has written to ``json_path`` meanwhile, one per ``key``
    (this process's record wins), sorted by ``key``."""
    mine = {key(r) for r in runs}
    if json_path.is_file():
        runs = runs + [r for r in json.loads(json_path.read_text()).get("runs", []) if key(r) not in mine]
    return sorted(runs, key=key)


def output_path(out, ext: str) -> Path:
    """``OUT`` + ``ext`` (".md", ".json"): the extension is appended, so a dot inside the name stays
    (``…_lw0.3_ablation`` → ``…_lw0.3_ablation.md``, where ``Path.with_suffix`` would cut at the
    dot); an ``OUT`` already ending in ``.md`` or ``.json`` loses that ending first."""
    out = Path(out)
    if out.suffix in (".md", ".json"):
        out = out.with_suffix("")
    return out.with_name(out.name + ext)


def write_report(out, report: dict, markdown: Callable[[dict], str], *, script: str, argv=None,
                 root: Path | None = None) -> dict:
    """Add ``git_commit`` (of ``root``), ``machine`` (cores, CPU, load average at the start),
    ``finished`` and ``command`` (``python SCRIPT ARGS``, shell-quoted so that it reruns as given)
    to ``report``, write ``OUT.json`` and ``OUT.md`` (``markdown(report)``; :func:`output_path`),
    print the markdown, and return the report."""
    m = machine_info()
    args = sys.argv[1:] if argv is None else list(argv)
    report = {**report, "git_commit": git_commit(root),
              "machine": f"{m['cores']} CPU cores ({m['cpu']}), load average at the start {m['loadavg_at_start']}",
              "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "command": f"python {script} " + shlex.join(args)}
    text = markdown(report)
    write_json(output_path(out, ".json"), report)
    write_text(output_path(out, ".md"), text)
    print(text)
    return report
