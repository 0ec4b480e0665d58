"""``crossmedia eval``: evaluate a finished run and write ``results.json`` (every number with
its convention, the protocol, seed and git commit) and a markdown table ``results.md``."""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..errors import UserError
from ..io import write_json, write_text
from ..metrics import parse_metric_list
from ..seed import git_commit
from ..viz import plot_pr_curves, plot_precision_at_n
from .evaluator import DIRECTIONS, evaluate, load_for_evaluation, split_recall


def _run_info(run_path: Path) -> dict:
    """The run's ``run.json`` (how its checkpoint was selected, on what machine), or {}."""
    p = run_path / "run.json"
    try:
        return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}


def evaluate_run(run_dir, split: str = "test", metrics: str | list | None = None, tie: str | None = None,
                 out=None, echo=print, codes: str = "native", data_root=None, database: str = "retrieval") -> Path:
    run_path = Path(run_dir)
    if not run_path.is_dir():
        raise UserError(f"{run_path}: run directory not found")
    if isinstance(metrics, str):
        ranking, ks = split_recall(metrics)
        try:
            names = [m.name for m in parse_metric_list(ranking)] if ranking else []
        except ValueError as e:
            raise UserError(f"--metrics: {e}") from None
        metrics = names + [f"recall@{k}" for k in ks]
    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    ck, rd = load_for_evaluation(run_path, "best", data_root=data_root)
    info = _run_info(run_path)
    model, cfg = ck.model, ck.config
    t0 = time.perf_counter()
    res = evaluate(model, rd, cfg, split=split, metrics=metrics, tie=tie, codes=codes, database=database)
    res.update({
        "dataset": {"name": rd.dataset.name, "root": str(rd.dataset.root)},
        "protocol": rd.protocol.summary(),
        "model": cfg["model"],
        "seed": cfg["train"]["seed"],
        "checkpoint": {"which": "best", "epoch": ck.meta.get("epoch"), "best_epoch": ck.meta.get("best_epoch"),
                       "selected_by": info.get("val_selection") or "not recorded (run made before val_rule)"},
        "machine": {**res.get("machine", {}), "training": info.get("machine")},
        "git_commit": git_commit(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "eval_wall_time_s": round(time.perf_counter() - t0, 3),
    })
    out = Path(out) if out else run_path
    out.mkdir(parents=True, exist_ok=True)
    name = "results" if split == "test" else "val_results"
    prefix = "" if split == "test" else "val_"
    if codes != "native":  # results of another code view sit beside the native ones
        name, prefix = f"{name}_{codes}", f"{prefix}{codes}_"
    if database != "retrieval":  # so is a database other than the whole retrieval set
        name, prefix = f"{name}_{database}", f"{prefix}{database}_"
    res["plots"] = write_plots(res, out, prefix=prefix)
    path = out / f"{name}.json"
    write_json(path, res)
    table = results_table(res)
    write_text(out / f"{name}.md", table + "\n")
    echo(table)
    return path


def write_plots(res: dict, out: Path, prefix: str = "") -> list[str]:
    """PR curves (by Hamming radius and/or top-N) and precision@N curves, both directions in
    one figure each, for whichever curve measures were computed."""
    per_dir = res["results"]
    title = f"{res['model']['name']} on {res['dataset']['name']} ({res['split'].split()[0]})"
    written = []
    radius = {d: per_dir[d]["pr_radius"]["value"] for d in DIRECTIONS if "pr_radius" in per_dir[d]}
    if radius:
        curves = {}
        for d, v in radius.items():
            for kind in ("micro", "macro"):
                curves[f"{d} ({kind})"] = (v[kind]["recall"], v[kind]["precision"])
        written.append(plot_pr_curves(curves, out / f"{prefix}pr_radius.png", title=f"PR by Hamming radius — {title}"))
    topn = {d: per_dir[d]["pr_topn"]["value"] for d in DIRECTIONS if "pr_topn" in per_dir[d]}
    if topn:
        curves = {d: (v["recall"], v["precision"]) for d, v in topn.items()}
        written.append(plot_pr_curves(curves, out / f"{prefix}pr_topn.png", title=f"PR at top-N — {title}"))
    pn = {}
    for d in DIRECTIONS:
        v = per_dir[d].get("p@n", per_dir[d].get("pr_topn"))
        if v is not None:
            pn[d] = (v["value"]["n"], v["value"]["precision"])
    if pn:
        written.append(plot_precision_at_n(pn, out / f"{prefix}precision_at_n.png", title=f"Precision@N — {title}"))
    return [str(p) for p in written]


def database_text(db: dict) -> str:
    """What the queries ranked: the view's description (with its size), else the split and count."""
    return db.get("holds") or f"{db['split']} ({db['count']})"


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
                 f"database: {database_text(res['database'])}; "
                 f"{res['relevance']}; "
                 f"protocol {res['protocol']['name']} v{res['protocol']['version']} (seed {res['protocol']['seed']})")
    return "\n".join(lines)
