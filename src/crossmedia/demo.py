"""``crossmedia demo``: the main job on the embedded default dataset.

Generates (or reuses) the synthetic scene dataset, trains every model in :data:`DEMO_PLAN`,
evaluates both directions on the protocol's test queries with mAP@all (conventions recorded),
saves example text→image and image→text searches as a PNG grid and a side-by-side comparison of
the first two models' results (``OUT/comparison/``), prints a results table and writes
``OUT/results.json``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .config import resolve_config
from .data import make_synth
from .eval import encode_items, evaluate, load_for_evaluation
from .io import write_json, write_text
from .models import Checkpoint
from .runtime import torch_settings
from .seed import git_commit
from .train import train
from .train.rundir import RunDir
from .explain import write_visual_comparison
from .viz.grids import retrieval_grid

#: dataset and training sizes; ``benchmarks/bench_demo.py`` times ``quick`` end to end and writes
#: ``benchmarks/results/demo.md`` (target: 2 minutes on 2 idle CPU cores).
SIZES = {
    "quick": {"n": 2000, "epochs": 9},
    "full": {"n": 10000, "epochs": 20},
}
#: (model name, model options, train options) trained by the demo: CMSL and, as its reference, its
#: CDQ ablation (no graph, no expansion, no local branch, no intra-media loss), same code size.
DEMO_PLAN: list[tuple[str, dict, dict]] = [
    ("cmsl", {"bits": 32}, {"lr": 3e-3}),
    ("cdq", {"bits": 32}, {"lr": 3e-3}),
]
METRIC = "map_all"


def _model_label(name: str, opts: dict) -> str:
    return f"{name}-{opts['bits']}b" if "bits" in opts else name


def run_demo(out: str | Path = "demo_out", quick: bool = False, seed: int = 0, threads: int | None = None,
             plan: list[tuple[str, dict, dict]] | None = None, echo=print) -> dict:
    """Train the demo's models on synthetic scenes, evaluate them and write the report under
    ``out``; ``threads``: torch threads for the demo (the caller's count is restored after)."""
    with torch_settings(threads=threads):
        return _run_demo(Path(out), quick, seed, plan, echo)


def _run_demo(out: Path, quick: bool, seed: int, plan, echo) -> dict:
    t_start = time.perf_counter()
    size = SIZES["quick" if quick else "full"]
    data_dir = out / ("data-quick" if quick else "data")
    params = make_synth.ensure_synthetic_dataset(data_dir, size["n"], seed=seed, echo=echo)
    rows, runs, run_paths = [], [], []
    for name, opts, train_opts in plan or DEMO_PLAN:
        label = _model_label(name, opts)
        cfg = resolve_config(
            {"model": {"name": name, **opts}, "data": {"root": str(data_dir)},
             "train": {"epochs": size["epochs"], "seed": seed, **train_opts}},
        )
        run_dir = out / "runs" / (label + ("-quick" if quick else ""))
        echo(f"training {label} ({size['epochs']} epochs) into {run_dir}")
        t0 = time.perf_counter()
        run = train(cfg, run_dir, overwrite=True, echo=lambda line: echo("  " + line))
        t_train = time.perf_counter() - t0
        ck, rd = load_for_evaluation(run.path)
        model, cfg = ck.model, ck.config
        t0 = time.perf_counter()
        res = evaluate(model, rd, cfg, split="test", metrics=[METRIC])
        t_eval = time.perf_counter() - t0
        res.update(_provenance(rd, cfg, run, ck))
        write_json(run.path / "results.json", res)
        runs.append((label, model, rd, cfg))
        run_paths.append(run.path)
        for direction in ("image->text", "text->image"):
            m = res["results"][direction][METRIC]
            rows.append({
                "model": name, "label": label, "bits": opts.get("bits"), "direction": direction,
                "text_field": cfg["data"]["text_field"], "metric": METRIC, "map": float(m["value"]),
                "metric_spec": m.get("spec", {}), "n_empty_queries": m.get("n_empty"),
                "random_map": res["random_ranking"]["map_all"], "best_epoch": ck.meta.get("best_epoch"),
                "train_time_s": round(t_train, 2), "eval_time_s": round(t_eval, 2), "run": str(run.path),
            })
    grid = out / "examples.png"
    label, model, rd, cfg = runs[0]
    example_searches(model, rd, grid, title=f"{label}: example searches (green = relevant, red = not)")
    comparison = None
    if len(run_paths) >= 2:  # the first two models side by side, with word-region heatmaps where the model has them
        qids = [rd.dataset.items[i]["id"] for i in rd.protocol["query"][:3]]
        write_visual_comparison(run_paths[0], run_paths[1], data_dir, out / "comparison", qids, k=6)
        comparison = str(out / "comparison" / "comparison.png")
    summary = {
        "task": "crossmedia demo" + (" --quick" if quick else ""),
        "dataset": {"name": rd.dataset.name, "root": str(rd.dataset.root), "generator": params},
        "protocol": rd.protocol.summary(),
        "evaluation": {"queries": "protocol 'query' split", "database": "protocol 'retrieval' split",
                       "relevance": "share at least one (colour, shape) label", "metric": "mAP@all (DCMH protocol)",
                       "tie_policy": cfg["eval"]["tie"], "empty_query": cfg["eval"]["empty_query"],
                       "model_selection": "best val score under train.val_rule=heldout (val queries vs held-out val items, "
                                          "never training items); test queries evaluated once"},
        "seed": seed, "git_commit": git_commit(), "torch_threads": torch.get_num_threads(),
        "results": rows, "examples_png": str(grid), "comparison_png": comparison,
        "wall_time_s": round(time.perf_counter() - t_start, 2),
    }
    write_json(out / "results.json", summary)
    table = format_table(rows)
    write_text(out / "results.md", table + "\n")
    echo(table)
    echo(format_summary(summary, out, run_paths[0], data_dir))
    return summary


def format_summary(summary: dict, out: Path, first_run: Path, data_dir: Path) -> str:
    """A few lines a reader can act on: time, the headline numbers, the files, what to try next."""
    by_label: dict[str, dict] = {}
    for r in summary["results"]:
        by_label.setdefault(r["label"], {})[r["direction"]] = r
    lines = [f"demo finished in {summary['wall_time_s']:.0f} s ({summary['torch_threads']} torch threads)"]
    for label, d in by_label.items():
        parts = [f"{k} {v['map']:.3f}" for k, v in d.items()]
        rnd = next(iter(d.values()))["random_map"]
        lines.append(f"  {label:<14} mAP@all {', '.join(parts)}   (random ranking {rnd:.3f})")
    lines.append(f"  pictures: {summary['examples_png']}" + (f", {summary['comparison_png']}" if summary["comparison_png"] else ""))
    lines.append(f"  numbers:  {out / 'results.md'}, {out / 'results.json'} (conventions, seed, commit)")
    ix = out / "index"
    lines.append(f"  next:     crossmedia index build --run {first_run} --out {ix}")
    lines.append(f"            crossmedia search {ix} --text \"red circle\"")
    return "\n".join(lines)


def _provenance(rd, cfg, run: RunDir, ck: Checkpoint) -> dict:
    return {"dataset": {"name": rd.dataset.name, "root": str(rd.dataset.root)},
            "protocol": rd.protocol.summary(), "model": cfg["model"], "seed": cfg["train"]["seed"],
            "checkpoint": {"which": "best", "epoch": ck.meta.get("epoch"), "best_epoch": ck.meta.get("best_epoch"),
                           "val_score": ck.meta.get("best")},
            "run": str(run.path), "git_commit": git_commit()}


def format_table(rows: list[dict]) -> str:
    head = "| model | bits | text | direction | mAP@all | random | Δ | train s |"
    sep = "|---|---:|---|---|---:|---:|---:|---:|"
    lines = [head, sep]
    for r in rows:
        lines.append(f"| {r['model']} | {r['bits'] or '-'} | {r['text_field']} | {r['direction']} | {r['map']:.4f} | "
                     f"{r['random_map']:.4f} | {r['map'] - r['random_map']:+.4f} | {r['train_time_s']:.0f} |")
    lines.append("")
    lines.append("mAP@all over the protocol's query items against its retrieval items; relevant = shares a "
                 "(colour, shape) label; ties broken by database index; random = expected mAP@all of a random ranking.")
    return "\n".join(lines)


@torch.no_grad()
def example_searches(model, rd, path: Path, n_queries: int = 3, k: int = 6, title: str | None = None) -> Path:
    """Top-k text→image and image→text results for the first few test queries."""
    proto, ds = rd.protocol, rd.dataset
    q = proto["query"][:n_queries]
    db = proto["retrieval"]
    img_q, txt_q = encode_items(model, rd.tensors, q, desc="example queries")
    img_d, txt_d = encode_items(model, rd.tensors, db, desc="example database")
    Y = ds.labels
    field = rd.tensors.text_field
    texts = ds.texts(field)

    def show_text(i: int) -> str:  # the text the model matched, labelled with its field
        t = texts[i]
        return f"{field}: " + ((t if isinstance(t, str) else " ".join(t)) or "(none)")

    def image(i: int) -> Image.Image:
        return Image.open(ds.root / ds.items[i]["image"]).convert("RGB")

    def note(i: int, qi: int) -> str:
        """What makes the hit relevant (the labels it shares with the query), or its labels."""
        shared = np.flatnonzero(Y[i] & Y[qi])
        if len(shared):
            return "shares: " + ", ".join(ds.label_names[c] for c in shared)
        return "labels: " + (", ".join(ds.label_names[c] for c in np.flatnonzero(Y[i])) or "none")

    rows = []
    for direction, Q, D in (("text->image", txt_q, img_d), ("image->text", img_q, txt_d)):
        codec = model.codec()
        scorer = codec.scorer(Q, codec.encode(D))
        dist = np.asarray(scorer.distances(0, len(q)))
        for j, qi in enumerate(q):
            top = np.argsort(dist[j], kind="stable")[:k]
            rel = (Y[db[top]] @ Y[qi]) > 0
            truth = ", ".join(ds.label_names[c] for c in np.flatnonzero(Y[qi]))
            if direction == "text->image":
                rows.append({"query": show_text(qi), "label": f"text -> image   (query labels: {truth})",
                             "query_note": f"labels: {truth}",
                             "results": [(image(db[t]), bool(r), note(db[t], qi)) for t, r in zip(top, rel)]})
            else:
                rows.append({"query": image(qi), "label": f"image -> text   (query labels: {truth})",
                             "query_note": f"labels: {truth}",
                             "results": [(show_text(db[t]), bool(r), note(db[t], qi)) for t, r in zip(top, rel)]})
    return retrieval_grid(rows, path, cell=96, title=title)
