"""Icon-scene benchmark: every registered model on real emoji artwork with user-like tags.

One command builds the data from the npm emoji packages (docs/datasets-emoji.md), extracts
EfficientNet-Lite0 features (global + 7×7 regions), trains and evaluates every model with
``crossmedia bench quality`` (32 bits, tags as text, features as images) and writes
``benchmarks/results/icons.md`` and ``.json`` with a random-ranking row and a tag-overlap
oracle row per protocol::

    python benchmarks/icons.py --src /path/to/npm-emoji --work /tmp/icons-bench            # full
    python benchmarks/icons.py --src /path/to/npm-emoji --work /tmp/icons-bench --quick    # ≤ 15 min size

Parts: ``scenes`` (icon scenes, protocols ``default`` and ``novel-icons``), ``icons`` (the
single-icon set with subgroup labels, ``default``) and ``scenes-zh`` (icon scenes with Chinese
names and keywords, ``default``). Everything is resumable (finished bench cells are kept in
``--work``).

Oracle: ranks the retrieval items by the number of tags they share with the query item (the
query's own user tags, also for image queries — an oracle no model can see), ties broken as
the bench breaks them; random: the expected mAP@all of a random ranking (the bench's figure).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from crossmedia.io import write_json, write_text  # noqa: E402

MODELS = ["cmsl", "cdq", "dcmh", "acmr", "dscmr", "twotower", "dafsn"]
SIZES = {
    "full": {"scenes": 6000, "seeds": 3, "epochs": 40},
    "quick": {"scenes": 600, "seeds": 1, "epochs": 15},
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def build_data(args, size: dict) -> dict[str, Path]:
    from crossmedia.data import Dataset
    from crossmedia.data.icon_scenes import SceneParams, make_icon_scenes
    from crossmedia.data.loaders import prepare_dataset
    from crossmedia.features.extract import extract_features

    work = Path(args.work)
    out: dict[str, Path] = {}
    for part in args.parts:
        root = work / f"data-{part}"
        if part in ("scenes", "scenes-zh"):
            params = SceneParams(n=size["scenes"], seed=0, lang="zh" if part == "scenes-zh" else "en")
            want = params.to_dict()
            try:
                ok = Dataset.load(root, check_files=False).meta.get("source", {}).get("n") == want["n"]
            except Exception:  # noqa: BLE001 - any unreadable folder is regenerated
                ok = False
            if not ok:
                log(f"generating {part}: {params.n} scenes into {root}")
                make_icon_scenes(args.src, root, params, overwrite=True)
        else:
            if not (root / "dataset.json").is_file():
                log(f"preparing the single-icon set into {root}")
                prepare_dataset("emoji", args.src, root, overwrite=True, lang="en", images="copy")
        ds = Dataset.load(root, check_files=False)
        if not ds.has_features("regions"):
            log(f"extracting EfficientNet-Lite0 features for {part} ({len(ds)} images)")
            extract_features(root, work / f"feats-{part}", backbone="efficientnet_lite0", overwrite=True,
                             threads=args.threads, echo=log)
        out[part] = root
    return out


def oracle(root: Path, protocol: str, tie: str) -> dict:
    """Tag-overlap oracle: score = number of shared (lower-cased) tags; both directions alike."""
    from crossmedia.data import Dataset
    from crossmedia.metrics.api import evaluate_ranking
    from crossmedia.metrics.scorers import InnerProductScorer

    ds = Dataset.load(root, check_files=False)
    p = ds.protocol(protocol)
    q, r = p["query"], p["retrieval"]
    words = sorted({t.lower() for it in ds.items for t in it["tags"]})
    col = {w: j for j, w in enumerate(words)}
    X = np.zeros((len(ds), len(words)), dtype=np.float32)
    for i, it in enumerate(ds.items):
        for t in it["tags"]:
            X[i, col[t.lower()]] = 1.0
    Y = ds.labels
    res = evaluate_ranking(InnerProductScorer(X[q], X[r]), Y[q], Y[r], ["map_all"], tie=tie, seed=0)
    return {"map_all": float(res["map_all"]["value"]), "tie": tie}


def run_part(args, name: str, root: Path, protocol: str, size: dict) -> dict:
    from crossmedia.bench import run_quality_bench

    out = Path(args.work) / f"bench-{name}-{protocol}"
    overrides = [f"data.protocol={protocol}", "data.text_field=tags", f"train.epochs={size['epochs']}",
                 "cmsl:model.graph.enabled=true", "cmsl:model.expansion.enabled=true"]
    log(f"bench {name} / {protocol}: {', '.join(args.models)}, 32 bits, {size['seeds']} seed(s)")
    rep = run_quality_bench(root, args.models, [32], list(range(size["seeds"])), out, overrides=overrides,
                            threads=args.threads, image_source="features", echo=lambda m: None)
    orc = oracle(root, protocol, rep["convention"].get("tie", "index"))
    rows = [r for r in rep["rows"] if r["codes"] == "native"]
    means = {r["model"]: {d: r[d]["mean"] for d in ("image->text", "text->image")} for r in rows}
    avg = {m: (v["image->text"] + v["text->image"]) / 2 for m, v in means.items()}
    return {"part": name, "protocol": protocol, "dataset": rep["dataset"]["name"], "queries": rep["queries"],
            "database": rep["database"], "protocol_summary": rep["protocol"], "random_ranking": rep["random_ranking"],
            "oracle": orc, "rows": rows, "convention": rep["convention"],
            "spread_best_worst": round(max(avg.values()) - min(avg.values()), 4) if avg else None,
            "models_reaching_oracle": [m for m, v in avg.items() if v >= orc["map_all"]],
            "bench_out": str(out), "wall_time_s": rep["wall_time_s"]}


def markdown(report: dict) -> str:
    lines = [f"# Icon scenes benchmark ({report['size']} size), mAP@all, 32 bits, native codes", ""]
    if report["size"] != "full":
        lines += [f"**This is the `--quick` size ({report['sizes']['scenes']} scenes, {report['sizes']['seeds']} seed(s), "
                  f"{report['sizes']['epochs']} epochs), not the full benchmark.** The full size (6,000 scenes, 3 seeds) "
                  "was not run here.", ""]
    for part in report["parts"]:
        lines += [f"## {part['part']} — protocol `{part['protocol']}` ({part['dataset']})", "",
                  f"{part['queries']['count']} queries against {part['database']['count']} retrieval items. "
                  f"Rule: {part['protocol_summary'].get('rule', '')}", "",
                  "| model | image→text | text→image | seeds | train s |", "|---|---:|---:|---:|---:|",
                  f"| random ranking | {part['random_ranking']:.4f} | {part['random_ranking']:.4f} | – | – |",
                  f"| tag-overlap oracle | {part['oracle']['map_all']:.4f} | {part['oracle']['map_all']:.4f} | – | – |"]
        for r in part["rows"]:
            f = lambda s: "–" if s["mean"] is None else (f"{s['mean']:.4f} ± {s['std']:.4f}" if s["n"] > 1 else f"{s['mean']:.4f}")  # noqa: E731
            lines.append(f"| {r['model']} | {f(r['image->text'])} | {f(r['text->image'])} | {len(r['seeds'])} | "
                         f"{r['train_time_s']['mean']:.0f} |")
        lines += ["", f"Spread best − worst model (mean of both directions): {part['spread_best_worst']}; models at or "
                      f"above the oracle: {', '.join(part['models_reaching_oracle']) or 'none'}.", ""]
    c = report["parts"][0]["convention"] if report["parts"] else {}
    lines += ["**Metric.** mAP@all over the whole ranking; relevant iff query and item share a label (a subgroup); "
              f"ties: {c.get('tie', 'index')}; mean ± sample std over seeds. Images: EfficientNet-Lite0 ImageNet features "
              "(global 1280-d + 7×7 regions); text: the scenes' user-like tags (tokenizer recorded in each dataset).", "",
              f"Wall time {report['wall_time_s']:.0f} s on {report['machine']['cores']} CPU cores ({report['machine']['cpu']}), "
              f"torch threads {report['threads']}, load average {report['machine']['loadavg_at_start']} at start, "
              f"{report['loadavg_end']} at the end (the cores were shared with other jobs). git {report['git_commit']}; "
              f"{report['created']}; `{report['command']}`.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", required=True, help="folder with the npm emoji packages")
    ap.add_argument("--work", required=True, help="work folder (data, features, runs; reused)")
    ap.add_argument("--quick", action="store_true", help="small size (600 scenes, 1 seed, 15 epochs)")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--parts", default="scenes,icons,scenes-zh")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "icons"),
                    help="results path without extension (.md and .json are written)")
    args = ap.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    args.parts = [p for p in args.parts.split(",") if p]
    import torch

    from crossmedia.seed import git_commit, machine_info

    torch.set_num_threads(args.threads)
    size_name = "quick" if args.quick else "full"
    size = SIZES[size_name]
    machine = machine_info()
    t0 = time.perf_counter()
    roots = build_data(args, size)
    parts = []
    plan = {"scenes": ["default", "novel-icons"], "icons": ["default"], "scenes-zh": ["default"]}
    for part in args.parts:
        for protocol in plan[part]:
            parts.append(run_part(args, part, roots[part], protocol, size))
            report = {"bench": "icons", "size": size_name, "sizes": size, "parts": parts, "models": args.models,
                      "machine": machine, "threads": args.threads, "git_commit": git_commit(),
                      "wall_time_s": round(time.perf_counter() - t0, 1),
                      "loadavg_end": round(os.getloadavg()[0], 2), "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                      "command": "python benchmarks/icons.py " + " ".join(sys.argv[1:] if argv is None else argv)}
            write_json(Path(args.out + ".json"), report)
            write_text(Path(args.out + ".md"), markdown(report))
            log(f"wrote {args.out}.md ({part}/{protocol})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
