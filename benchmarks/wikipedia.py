"""Benchmark: cross-modal retrieval on the Wikipedia dataset's original features (Rasiwasia et
al. 2010: 128-d SIFT bag-of-visual-words images, 10-d LDA texts), standard protocol.

Protocol: the release's 2,173 training / 693 test pairs; the 693 test pairs are both the
queries and the retrieval set (the query's own pair is in the database); a val set of 217
pairs carved from the training pairs (seeded) chooses the checkpoint, the other 1,956 train.
Measure: mAP@all in both directions, an item relevant iff it shares the query's category;
mean ± sample std (ddof = 1) over the seeds.

    PYTHONPATH=src python benchmarks/wikipedia.py [--src ../shared/data/wikipedia] [--bits 16,32,64]
        [--seeds 0,1,2] [--models twotower] [--epochs N] [--threads 1] [--out benchmarks/results]

Writes ``OUT/wikipedia.md`` and ``OUT/wikipedia.json``. Models that take global feature vectors
are listed in :data:`MODELS`; add a line there for a new one (CMSL, CDQ, …). Hyperparameters
were chosen on the val split only (never on the test pairs).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


@dataclass
class BenchModel:
    """A registered model as benchmarked here: name, a label for the table, and the config
    overrides it is run with (on top of the bits, the seed and the data settings)."""

    name: str
    label: str
    overrides: list[str] = field(default_factory=list)
    selection: str = ""  # how the overrides were chosen (recorded with the results)


MODELS: list[BenchModel] = [
    BenchModel(
        "twotower", "Two-tower hashing (DCMH objective, MLPs on the features)",
        ["model.text_hidden=1024", "train.lr=3e-3", "train.epochs=200", "train.batch_size=128", "train.val_every=5"],
        selection="on the val split at 32 bits, seed 0: lr in {1e-3, 3e-3, 1e-2}, hidden in {256, 1024}, "
                  "epochs in {100, 200}, batch in {64, 128}; best val mAP",
    ),
    BenchModel(
        "cmsl", "CMSL global branch + composite quantization (inter + intra loss; no graph: the text is 10 LDA topics, not words; no regions)",
        ["model.graph.enabled=false", "model.expansion.enabled=false", "model.image_hidden=1024",
         "model.text_hidden=1024", "train.lr=3e-3", "train.epochs=100", "train.batch_size=128", "train.val_every=5",
         "model.loss.memory=false", "model.loss.scale=0.5", "model.loss.label_weight=0.0"],
        selection="the two-tower model's val-chosen settings (lr, hidden, batch), 100 epochs; then among twelve "
                  "candidates (learning rate, widths, dropout, each loss value one at a time) on the val split at "
                  "32 bits, seeds 0-2: model.loss.memory=false, and θ scale 0.5 kept (scale 1 0.3089 against 0.3150; "
                  "benchmarks/results/wikipedia_cmsl_selection.md); the label-space term off, the paper's loss: "
                  "weights 0, 0.1 and 1 are level on the val split (0.3200, 0.3189, 0.3203, pooled std 0.003; "
                  "benchmarks/results/wikipedia_cmsl_label_selection.md)",
    ),
    BenchModel(
        "cdq", "CDQ (CMSL without graph, expansion, local branch and intra loss)",
        ["model.image_hidden=1024", "model.text_hidden=1024", "train.lr=3e-3", "train.epochs=100",
         "train.batch_size=128", "train.val_every=5", "model.loss.scale=0.5"],
        selection="as CMSL (same settings, val split at 32 bits, seed 0; CMSL's θ scale on this data, 0.5: "
                  "CDQ is CMSL's preset and shares its loss values)",
    ),
]

DIRECTIONS = ("image->text", "text->image")


def prepare(src: Path, work: Path) -> Path:
    from crossmedia.data import Dataset
    from crossmedia.data.loaders import prepare_dataset

    root = work / "data"
    try:
        ds = Dataset.load(root)
        if ds.meta.get("source", {}).get("path") == str(src.resolve()) and ds.name == "wikipedia":
            return root
    except Exception:  # not there yet, or stale
        pass
    prepare_dataset("wikipedia", src, root, overwrite=True)
    return root


def run_key(model: str, bits: int, seed: int) -> str:
    return f"{model}-{bits}b-seed{seed}"


def run_config(m: BenchModel, bits: int, seed: int, data_root: Path, epochs: int | None, threads: int | None) -> dict:
    """The resolved settings of one run (what the results file records and compares)."""
    from crossmedia.config import resolve_config

    overrides = list(m.overrides) + [f"model.bits={bits}", f"train.seed={seed}", "data.image_source=features",
                                      "data.protocol=default"]
    if epochs is not None:
        overrides.append(f"train.epochs={epochs}")
    if threads:
        overrides.append(f"train.threads={threads}")
    return resolve_config(None, overrides, model__name=m.name, data__root=str(data_root))


def run_one(m: BenchModel, bits: int, seed: int, data_root: Path, work: Path, epochs: int | None, threads: int | None) -> dict:
    from crossmedia.eval.evaluator import evaluate
    from crossmedia.eval import load_for_evaluation
    from crossmedia.train import RunDir, train

    cfg = run_config(m, bits, seed, data_root, epochs, threads)
    out = work / "runs" / f"{m.name}-{bits}b-seed{seed}"
    t0 = time.perf_counter()
    run = train(cfg, out, overwrite=True)
    t_train = time.perf_counter() - t0
    ck, rd = load_for_evaluation(RunDir(out).path)
    model, cfg2 = ck.model, ck.config
    res = evaluate(model, rd, cfg2, split="test", metrics=["map_all"])
    return {
        "model": m.name, "bits": bits, "seed": seed,
        "map_all": {d: float(res["results"][d]["map_all"]["value"]) for d in DIRECTIONS},
        "best_epoch": ck.meta.get("best_epoch"), "epochs": int(cfg["train"]["epochs"]),
        "val_score": run.info().get("best_val_score"), "val_selection": run.info().get("val_selection"),
        "train_wall_s": round(t_train, 1),
        "convention": {d: {k: v for k, v in res["results"][d]["map_all"].items() if k != "value"} for d in DIRECTIONS},
        "random_ranking": res["random_ranking"]["map_all"], "ranking": res["ranking"],
        "queries": res["queries"], "database": res["database"], "protocol": rd.protocol.summary(),
        "config": cfg,
    }


def summarise(runs: list[dict]) -> dict:
    out: dict = {}
    for r in runs:
        out.setdefault(r["model"], {}).setdefault(str(r["bits"]), {d: [] for d in DIRECTIONS})
        for d in DIRECTIONS:
            out[r["model"]][str(r["bits"])][d].append(r["map_all"][d])
    for model, by_bits in out.items():
        for b, by_dir in by_bits.items():
            for d, vals in by_dir.items():
                a = np.asarray(vals)
                by_dir[d] = {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
                             "values": [float(v) for v in vals], "n_seeds": len(vals)}
    return out


def markdown(report: dict) -> str:
    p = report["protocol"]
    spec = report["convention"].get("spec", report["convention"])
    lines = [
        "# Wikipedia (original features): cross-modal retrieval, mAP@all",
        "",
        f"Dataset: {report['dataset']['description']}",
        "",
        f"Protocol `{p['name']}` v{p['version']} (seed {p['seed']}): queries = the {report['queries']['count']} "
        f"test pairs (split `{report['queries']['split']}`); retrieval set = the same {report['database']['count']} test pairs "
        f"(query_in_retrieval, the standard Wikipedia protocol: test used as query and retrieval set); "
        f"train {p['counts']['train']} pairs, val {p['counts']['val']} (carved from the 2,173 training pairs; "
        "checkpoint selection only).",
        "",
        f"Measure: mAP@all ({spec.get('convention', '')}), {report['relevance']}; ties: {spec.get('tie', '?')}; "
        f"queries without a relevant item: {spec.get('empty_query', '?')}; "
        f"mean ± sample std over seeds {', '.join(map(str, report['seeds']))}. Random-ranking mAP@all: "
        f"{report['random_ranking']:.4f}.",
        "",
        "| model | bits | image→text | text→image |",
        "|---|---:|---:|---:|",
    ]
    for m in report["models"]:
        for b in report["bits"]:
            s = report["summary"].get(m["name"], {}).get(str(b))
            if not s:
                continue
            cells = [f"{s[d]['mean']:.4f} ± {s[d]['std']:.4f}" for d in DIRECTIONS]
            lines.append(f"| {m['name']} | {b} | {cells[0]} | {cells[1]} |")
    lines += ["", "Models:"]
    for m in report["models"]:
        lines.append(f"- `{m['name']}`: {m['label']}; settings {' '.join(m['overrides'])}; chosen {m['selection']}")
    rules = sorted({r.get("val_selection") or "not recorded (a run made before the rule was recorded: val queries "
                    "against the training items)" for r in report["runs"]})
    lines += ["", f"**Model selection.** Each run keeps its checkpoint with the best validation score: {'; '.join(rules)}. "
              "The test pairs are never read while training or choosing settings."]
    cmds = "; ".join(f"`{c}`" for c in report.get("commands", [report["command"]]))
    lines += ["", f"Commands (cumulative, finished runs are kept): {cmds} — {report['wall_time_s'] / 60:.1f} min wall time in all on "
              f"{report['machine']}; git {report['git_commit']}; {report['created']}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", type=Path, default=REPO.parent / "shared" / "data" / "wikipedia")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "crossmedia-bench" / "wikipedia")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    ap.add_argument("--bits", default="16,32,64")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--models", default=",".join(m.name for m in MODELS))
    ap.add_argument("--epochs", type=int, default=None, help="override every model's epochs (smoke runs)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run (the models are small MLPs)")
    args = ap.parse_args(argv)
    os.environ.setdefault("CROSSMEDIA_NO_PROGRESS", "1")
    from crossmedia.seed import git_commit

    if not args.src.is_dir():
        print(f"error: {args.src}: the Wikipedia release is not there (pass --src)", file=sys.stderr)
        return 2
    bits = [int(b) for b in args.bits.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    wanted = args.models.split(",")
    models = [m for m in MODELS if m.name in wanted]
    unknown = set(wanted) - {m.name for m in models}
    if unknown:
        print(f"error: --models: unknown {sorted(unknown)} (known: {[m.name for m in MODELS]})", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    data_root = prepare(args.src, args.work)
    from crossmedia.bench.quality import same_settings
    from crossmedia.data import Dataset
    from crossmedia.eval.evaluator import RELEVANCE_RULE
    from crossmedia.io import write_json, write_text

    ds = Dataset.load(data_root)
    json_path = args.out / "wikipedia.json"
    # resumable and cumulative: runs already in the results file are kept and skipped when their
    # recorded settings stand for the ones asked for now (the quality bench's rule: equal, apart from
    # threads and the data folder, and options added to the code since the run, asked for at the
    # value that means the behaviour it had); a run made with other settings is trained again
    old = json.loads(json_path.read_text()) if json_path.is_file() else {}
    configs: dict = dict(old.get("configs", {}))
    runs: list[dict] = []
    for r in old.get("runs", []):
        key = run_key(r["model"], r["bits"], r["seed"])
        m = next((m for m in models if m.name == r["model"]), None)
        if m is not None and not same_settings(configs.get(key) or {},
                                               run_config(m, r["bits"], r["seed"], data_root, args.epochs, args.threads)):
            print(f"{key}: recorded with other settings than now, trained again", flush=True)
            configs.pop(key, None)
            continue
        runs.append(r)
    done = {(r["model"], r["bits"], r["seed"]) for r in runs}
    shared = {k: old[k] for k in ("protocol", "queries", "database", "convention", "random_ranking") if k in old}
    model_entries = {m["name"]: m for m in old.get("models", [])}
    for m in models:
        model_entries[m.name] = {"name": m.name, "label": m.label, "overrides": m.overrides, "selection": m.selection}
    command = " ".join(["python benchmarks/wikipedia.py"] + [shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])])
    commands = list(dict.fromkeys(old.get("commands", [old["command"]] if "command" in old else []) + [command]))

    def report() -> dict:
        order = [m.name for m in MODELS]
        return {
            "benchmark": "wikipedia", "dataset": {"name": ds.name, "description": ds.meta.get("description"),
                                                   "source": str(args.src), "features": ds.meta.get("features")},
            **shared, "relevance": RELEVANCE_RULE, "measure": "map_all",
            "bits": sorted({r["bits"] for r in runs}), "seeds": sorted({r["seed"] for r in runs}),
            "models": sorted(model_entries.values(), key=lambda e: order.index(e["name"]) if e["name"] in order else 99),
            "summary": summarise(runs), "runs": runs, "configs": configs,
            "command": command, "commands": commands,
            "wall_time_s": round(float(old.get("wall_time_s", 0.0)) + time.perf_counter() - t0, 1),
            "git_commit": git_commit(), "machine": f"{os.cpu_count()} CPU cores, torch threads {args.threads}",
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }

    args.out.mkdir(parents=True, exist_ok=True)
    for m in models:
        for b in bits:
            for s in seeds:
                if (m.name, b, s) in done:
                    continue
                r = run_one(m, b, s, data_root, args.work, args.epochs, args.threads)
                shared = {"protocol": r["protocol"], "queries": r["queries"], "database": r["database"],
                          "convention": r["convention"]["image->text"], "random_ranking": r["random_ranking"]}
                configs[run_key(r["model"], r["bits"], r["seed"])] = r["config"]
                runs.append({k: v for k, v in r.items() if k not in ("config", "protocol", "convention")})
                print(f"{m.name} {b:>2} bits seed {s}: i->t {r['map_all']['image->text']:.4f}  "
                      f"t->i {r['map_all']['text->image']:.4f}  (best epoch {r['best_epoch']}, {r['train_wall_s']} s)", flush=True)
                write_json(json_path, report())
    if not runs:
        print("error: nothing ran and no earlier results", file=sys.stderr)
        return 2
    rep = report()
    write_json(json_path, rep)
    write_text(args.out / "wikipedia.md", markdown(rep))
    print(markdown(rep))
    return 0


if __name__ == "__main__":
    sys.exit(main())
