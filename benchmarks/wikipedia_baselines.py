"""Benchmark: each baseline's published configuration next to the harness's tuned default, on
the Wikipedia dataset's original features (128-d SIFT bag-of-visual-words images, 10-d LDA texts).

Protocol: the release's 693 test pairs are both the queries and the retrieval set; 217 of the
2,173 training pairs (seeded) are held out as the validation split, the other 1,956 train.
Model selection: ``train.val_rule=heldout`` — every run keeps the epoch with the best mean
mAP@all of the 217 val pairs ranked against the same 217 held-out val pairs (the test
protocol's shape), never against training items and never on the test pairs.
Measure: mAP@all in both directions, relevant iff same category; mean ± sample std (ddof 1)
over the seeds.

Rows: ``<model>`` = the registered defaults with the bench's feature settings
(:mod:`crossmedia.bench.presets`, kind ``features``: 100 epochs, batch 128, lr 3e-3, validated
every 5 epochs), ``<model>-paper`` = the shipped preset ``crossmedia/configs/<model>-paper.yaml``
(the authors' released configuration; differences listed in each model's docstring).

    PYTHONPATH=src python benchmarks/wikipedia_baselines.py [--src ../shared/data/wikipedia]
        [--entries dscmr,dscmr-paper,...] [--seeds 0,1,2] [--bits 32] [--threads 1]
        [--work DIR] [--out benchmarks/results]

Writes ``OUT/wikipedia-baselines.md`` and ``.json``; cumulative and resumable: finished runs in
``WORK/runs`` whose saved config equals the one asked for are evaluated, not retrained.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

DIRECTIONS = ("image->text", "text->image")
ENTRIES = ["dscmr", "dscmr-paper", "acmr", "acmr-paper", "dcmh", "dcmh-paper"]
#: figures of the authors' own code measured on the same data and protocol (the
#: official DSCMR model, loss and mAP run on these features, 3 seeds, selected on val vs val)
REFERENCE = {"dscmr-paper": {"source": "official penghu-cs/DSCMR code on the same features and protocol, 1,956 "
                                       "training pairs (model, loss and mAP code unchanged, data loading adapted), "
                                       "selected on val queries vs val items",
                             "image->text": (0.2618, 0.0045), "text->image": (0.2407, 0.0072)}}


def entry_config(entry: str, bits: int, seed: int, data_root: Path, threads: int | None) -> dict:
    from crossmedia.bench.presets import preset_overrides
    from crossmedia.config import load_config_file, resolve_config

    ov = ["data.image_source=features", "data.text_field=features", f"train.seed={seed}", f"model.bits={bits}"]
    if threads:
        ov.append(f"train.threads={threads}")
    if entry.endswith("-paper"):
        return resolve_config(load_config_file(entry), ov, data__root=str(data_root))
    return resolve_config(None, preset_overrides("features", entry) + ov, model__name=entry, data__root=str(data_root))


def _comparable(cfg: dict) -> dict:
    from crossmedia.bench.quality import _comparable as comparable

    return comparable(cfg)


def run_one(entry: str, bits: int, seed: int, data_root: Path, work: Path, threads: int | None) -> dict:
    from crossmedia.eval.evaluator import evaluate, load_for_evaluation
    from crossmedia.train import RunDir, train

    cfg = entry_config(entry, bits, seed, data_root, threads)
    out = work / "runs" / f"{entry}-s{seed}"
    rd_ = RunDir(out)
    reused = False
    if rd_.checkpoint("best").is_file() and rd_.info().get("status") == "done" and \
            _comparable(rd_.load_config()) == _comparable(cfg):
        run, reused = rd_, True
    else:
        run = train(cfg, out, overwrite=True)
    ck, rd = load_for_evaluation(out, "best")
    res = evaluate(ck.model, rd, ck.config, split="test", metrics=["map_all"])
    info = run.info()
    return {
        "entry": entry, "model": cfg["model"]["name"], "bits": bits, "seed": seed,
        "map_all": {d: float(res["results"][d]["map_all"]["value"]) for d in DIRECTIONS},
        "best_epoch": info.get("best_epoch"), "epochs": int(cfg["train"]["epochs"]),
        "best_val_score": info.get("best_val_score"), "val_selection": info.get("val_selection"),
        "relevance_statistics": info.get("relevance_statistics"), "train_time_s": info.get("train_time_s"),
        "machine": info.get("machine"), "git_commit": info.get("git_commit"), "reused_finished_run": reused,
        "convention": {k: v for k, v in res["results"]["image->text"]["map_all"].items() if k != "value"},
        "random_ranking": res["random_ranking"]["map_all"], "ranking": res["ranking"],
        "queries": res["queries"], "database": res["database"], "protocol": rd.protocol.summary(), "config": cfg,
    }


def summarise(runs: list[dict]) -> dict:
    out: dict = {}
    for e in dict.fromkeys(r["entry"] for r in runs):
        rs = [r for r in runs if r["entry"] == e]
        s = {"n_seeds": len(rs), "seeds": [r["seed"] for r in rs],
             "best_epoch": [r["best_epoch"] for r in rs], "epochs": rs[0]["epochs"],
             "train_time_s": float(np.mean([r["train_time_s"] or 0 for r in rs]))}
        for d in DIRECTIONS:
            a = np.asarray([r["map_all"][d] for r in rs])
            s[d] = {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
                    "values": a.tolist()}
        out[e] = s
    return out


def markdown(rep: dict) -> str:
    p = rep["protocol"]
    lines = [
        "# Wikipedia (original features): published configurations vs tuned defaults, mAP@all", "",
        "| model | configuration | image→text | text→image | seeds | selected epochs (of) | train s |",
        "|---|---|---:|---:|---:|---|---:|",
    ]
    for e in ENTRIES:
        s = rep["summary"].get(e)
        if not s:
            continue
        model, conf = (e[:-6], "paper preset (`--config " + e + "`)") if e.endswith("-paper") else (e, "tuned default")
        cells = [f"{s[d]['mean']:.4f} ± {s[d]['std']:.4f}" if s["n_seeds"] > 1 else f"{s[d]['mean']:.4f}" for d in DIRECTIONS]
        lines.append(f"| {model} | {conf} | {cells[0]} | {cells[1]} | {s['n_seeds']} | "
                     f"{', '.join(map(str, s['best_epoch']))} ({s['epochs']}) | {s['train_time_s']:.0f} |")
        ref = REFERENCE.get(e)
        if ref:
            lines.append(f"| {model} | reference: {ref['source']} | {ref['image->text'][0]:.4f} ± {ref['image->text'][1]:.4f} | "
                         f"{ref['text->image'][0]:.4f} ± {ref['text->image'][1]:.4f} | 3 | – | – |")
    missing = [e for e in rep["entries_asked"] if e not in rep["summary"]]
    if missing:
        notes = rep.get("notes", {})
        lines += [""] + [f"Not in the table: `{e}` — {notes.get(e, 'not run yet')}." for e in missing]
    partial = [e for e, s in rep["summary"].items() if s["n_seeds"] < len(rep["seeds_asked"])]
    if partial:
        lines += ["", f"Fewer seeds than asked ({', '.join(map(str, rep['seeds_asked']))}): "
                  + ", ".join(f"`{e}` ({rep['summary'][e]['n_seeds']})" for e in partial) + "."]
    near_random = [e for e, s in rep["summary"].items()
                   if max(s[d]["mean"] for d in DIRECTIONS) < rep["random_ranking"] + 0.03]
    for e in near_random:
        s = rep["summary"][e]
        lines += ["", f"`{e}` stays within 0.03 of a random ranking ({rep['random_ranking']:.4f}) in both directions; "
                  f"its best validation epochs are {', '.join(map(str, s['best_epoch']))} of {s['epochs']}."]
    every = {}
    for r in rep["runs"]:
        m = re.search(r" every (\d+) epoch", r.get("val_selection") or "")
        every.setdefault(r["entry"], int(m.group(1)) if m else "?")
    sel = next(iter(rep["runs"]), {}).get("val_selection", "")
    sel = sel.split(" every ")[0] + ", validated every N trainer epochs (" + \
        ", ".join(f"{e} {n}" for e, n in every.items()) + ")" + \
        (";" + sel.split(";", 1)[1] if ";" in sel else "")
    rel = next(iter(rep["runs"]), {}).get("relevance_statistics") or {}
    conv = rep["convention"].get("spec", rep["convention"])
    lines += [
        "",
        f"**Protocol.** Dataset `wikipedia`, protocol `{p['name']}` v{p['version']} (seed {p['seed']}): the "
        f"{rep['queries']['count']} test pairs are the queries and the retrieval set (query_in_retrieval, the standard "
        f"Wikipedia protocol); train {p['counts']['train']} pairs, val {p['counts']['val']} pairs carved from the 2,173 "
        "training pairs.",
        "",
        f"**Model selection.** {sel}. Share of the database relevant to a query: "
        f"val {rel.get('val', {}).get('relevant_fraction', float('nan')):.4f}, test "
        f"{rel.get('test', {}).get('relevant_fraction', float('nan')):.4f}. The authors' scripts select differently: "
        "DSCMR's keeps the epoch with the best *test* mAP, ACMR's and DCMH's keep the last epoch; no row here "
        "looks at the test pairs before its single evaluation.",
        "",
        f"**Metric.** mAP@all ({conv.get('convention', '')}); {rep['relevance']}; ties: {conv.get('tie', '?')}; "
        f"mean ± sample std (ddof 1) over seeds. Random ranking: {rep['random_ranking']:.4f}. Rankings: cosine of the "
        "real vectors (dscmr, acmr: the common-space dimension is `bits` for the tuned default, 1024 for dscmr-paper, "
        "40 for acmr-paper), Hamming distance of sign codes (dcmh, `bits` bits).",
        "",
        "**Configurations.** tuned default = the registered defaults plus the bench's feature settings "
        f"({' '.join(rep['tuned_settings'])}); paper preset = `crossmedia/configs/<model>-paper.yaml`, the authors' "
        "released configuration (architecture, loss forms and weights, optimizer and betas, schedule, epochs, batch "
        "order); every remaining difference is listed in the model's docstring. bits = "
        f"{', '.join(map(str, rep['bits']))}.",
        "",
        f"Machine: {rep['machine']}. git {rep['git_commit']}; {rep['created']}; commands: "
        + "; ".join(f"`{c}`" for c in rep["commands"]) + ".",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", type=Path, default=REPO.parent / "shared" / "data" / "wikipedia")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "crossmedia-bench" / "wikipedia-baselines")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    ap.add_argument("--entries", default=",".join(ENTRIES))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--bits", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    os.environ.setdefault("CROSSMEDIA_NO_PROGRESS", "1")
    from crossmedia.bench.presets import PRESETS
    from crossmedia.eval.evaluator import RELEVANCE_RULE
    from crossmedia.io import write_json, write_text
    from crossmedia.seed import git_commit
    from wikipedia import prepare

    if not args.src.is_dir():
        print(f"error: {args.src}: the Wikipedia release is not there (pass --src)", file=sys.stderr)
        return 2
    entries = [e for e in args.entries.split(",") if e]
    unknown = [e for e in entries if e not in ENTRIES]
    if unknown:
        print(f"error: --entries: unknown {unknown} (known: {ENTRIES})", file=sys.stderr)
        return 2
    seeds = [int(s) for s in args.seeds.split(",")]
    t0 = time.perf_counter()
    data_root = prepare(args.src, args.work)
    json_path = args.out / "wikipedia-baselines.json"
    old = json.loads(json_path.read_text()) if json_path.is_file() else {}
    runs = [r for r in old.get("runs", []) if r.get("bits") == args.bits]
    configs = dict(old.get("configs", {}))
    done = {(r["entry"], r["seed"]) for r in runs}
    command = " ".join(["python benchmarks/wikipedia_baselines.py"] + [shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])])
    commands = list(dict.fromkeys(old.get("commands", []) + [command]))
    shared: dict = {k: old[k] for k in ("protocol", "queries", "database", "convention", "random_ranking") if k in old}

    def report() -> dict:
        return {"benchmark": "wikipedia-baselines", **shared, "relevance": RELEVANCE_RULE, "measure": "map_all",
                "bits": [args.bits], "entries_asked": sorted(set(entries) | {r["entry"] for r in runs}, key=ENTRIES.index),
                "seeds_asked": sorted(set(seeds) | set(old.get("seeds_asked", []))), "notes": dict(old.get("notes", {})),
                "summary": summarise(runs), "reference": REFERENCE, "runs": runs, "configs": configs,
                "tuned_settings": list(PRESETS["features"]["*"]), "commands": commands,
                "machine": f"{os.cpu_count()} CPU cores shared with other jobs, torch threads {args.threads}, no GPU",
                "git_commit": git_commit(), "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "wall_time_s": round(float(old.get("wall_time_s", 0.0)) + time.perf_counter() - t0, 1)}

    args.out.mkdir(parents=True, exist_ok=True)
    for s in seeds:
        for e in entries:
            if (e, s) in done:
                continue
            r = run_one(e, args.bits, s, data_root, args.work, args.threads)
            shared = {"protocol": r.pop("protocol"), "queries": r["queries"], "database": r["database"],
                      "convention": r.pop("convention"), "random_ranking": r["random_ranking"]}
            configs[f"{e}-s{s}"] = r.pop("config")
            runs.append(r)
            print(f"{e} seed {s}: i->t {r['map_all']['image->text']:.4f}  t->i {r['map_all']['text->image']:.4f}  "
                  f"(best epoch {r['best_epoch']}/{r['epochs']}{', reused' if r['reused_finished_run'] else ''})", flush=True)
            write_json(json_path, report())
            write_text(args.out / "wikipedia-baselines.md", markdown(report()))
    if not runs:
        print("error: nothing ran and no earlier results", file=sys.stderr)
        return 2
    rep = report()
    write_json(json_path, rep)
    write_text(args.out / "wikipedia-baselines.md", markdown(rep))
    print(markdown(rep))
    return 0


if __name__ == "__main__":
    sys.exit(main())
