"""``crossmedia eval``: evaluate a finished run and write ``results.json`` (every number with
its convention, the protocol, seed and git commit) and a markdown table ``results.md``."""

from __future__ import annotations

import time
from pathlib import Path

from ..errors import UserError
from ..io import write_json, write_text
from ..seed import git_commit
from ..train import RunDir, load_trained
from .evaluator import DIRECTIONS, evaluate


def evaluate_run(run_dir, split: str = "test", metrics: str | list | None = None, tie: str | None = None,
                 out=None, echo=print) -> Path:
    from ..metrics import parse_metric_list

    run = RunDir(run_dir)
    if not run.path.is_dir():
        raise UserError(f"{run.path}: run directory not found")
    if isinstance(metrics, str):
        try:
            metrics = parse_metric_list(metrics)
        except ValueError as e:
            raise UserError(f"--metrics: {e}") from None
    model, cfg, rd, ck = load_trained(run)
    t0 = time.perf_counter()
    res = evaluate(model, rd, cfg, split=split, metrics=metrics, tie=tie)
    res.update({
        "dataset": {"name": rd.dataset.name, "root": str(rd.dataset.root)},
        "protocol": rd.protocol.summary(),
        "model": cfg["model"],
        "seed": cfg["train"]["seed"],
        "checkpoint": {"which": "best", "epoch": ck.get("epoch"), "best_epoch": ck.get("best_epoch"),
                       "selected_by": "val score (val queries vs train items)"},
        "git_commit": git_commit(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "eval_wall_time_s": round(time.perf_counter() - t0, 3),
    })
    out = Path(out) if out else run.path
    name = "results" if split == "test" else "val_results"
    path = out / f"{name}.json"
    write_json(path, res)
    table = results_table(res)
    write_text(out / f"{name}.md", table + "\n")
    echo(table)
    return path


def results_table(res: dict) -> str:
    """Markdown table of the scalar measures of a results dict, both directions."""
    names = [n for n, r in res["results"][DIRECTIONS[0]].items() if isinstance(r.get("value"), (int, float))]
    lines = [f"| measure | {' | '.join(DIRECTIONS)} |", "|---|" + "---:|" * len(DIRECTIONS)]
    for n in names:
        vals = [res["results"][d][n]["value"] for d in DIRECTIONS]
        lines.append(f"| {n} | " + " | ".join(f"{v:.4f}" for v in vals) + " |")
    lines.append(f"| random-ranking mAP@all | {res['random_ranking']['map_all']:.4f} | {res['random_ranking']['map_all']:.4f} |")
    lines.append("")
    lines.append(f"split: {res['split']}; queries: {res['queries']['split']} ({res['queries']['count']}), "
                 f"database: {res['database']['split']} ({res['database']['count']}); {res['relevance']}; "
                 f"protocol {res['protocol']['name']} v{res['protocol']['version']} (seed {res['protocol']['seed']})")
    return "\n".join(lines)
