"""CMSL ablation on the icon scenes (real emoji artwork, EfficientNet-Lite0 features, user-like tags).

Trains CDQ, CMSL and CMSL minus each of its components — semantic expansion, the local
(region–word) branch, the intra-media loss — on an icon-scene dataset with precomputed
EfficientNet-Lite0 features (``crossmedia data synth-icons`` + ``crossmedia features extract``,
docs/datasets-emoji.md), tags as text, at one code length and several seeds. Each run's
checkpoint is chosen on the protocol's val split (``train.val_rule=heldout``, every epoch), then
evaluated once on the test queries (mAP@all, both directions, AQD ranking of the model's own
composite codes). Writes ``<name>.json`` (every run, resumable: finished runs are skipped) and
``<name>.md`` (mean ± sample std over seeds, the difference of every variant to full CMSL)::

    crossmedia data synth-icons --src NPM_DIR --out /tmp/icons/data --n 2000 --seed 0
    crossmedia features extract /tmp/icons/data --out /tmp/icons/feats
    python benchmarks/bench_cmsl_icons.py --data /tmp/icons/feats --seeds 0,1

``--variants`` picks rows (see :data:`VARIANTS`; ``vocabulary_form`` is CMSL with the local
branch's earlier default, the vocabulary form).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("CROSSMEDIA_NO_PROGRESS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

#: variant name → (model, model overrides, description)
VARIANTS: dict[str, tuple[str, dict, str]] = {
    "cdq": ("cdq", {}, "CDQ: no graph, no expansion, no local branch, no intra-media loss"),
    "cmsl": ("cmsl", {}, "CMSL with its defaults"),
    "no_expansion": ("cmsl", {"expansion": {"enabled": False}}, "CMSL without semantic expansion"),
    "no_local": ("cmsl", {"local": {"enabled": False}}, "CMSL without the local (region-word) branch"),
    "no_intra": ("cmsl", {"loss": {"intra_weight": 0.0}}, "CMSL without the intra-media loss"),
    "vocabulary_form": ("cmsl", {"local": {"form": "vocabulary"}},
                        "CMSL with the vocabulary form of the local branch (the earlier default)"),
}
DEFAULT_VARIANTS = ["cdq", "cmsl", "no_expansion", "no_local", "no_intra"]
DIRECTIONS = ("image->text", "text->image")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="icon-scene dataset with EfficientNet-Lite0 features")
    p.add_argument("--protocol", default="default")
    p.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "crossmedia-bench-cmsl-icons")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    p.add_argument("--name", default="cmsl_icons", help="results file stem")
    p.add_argument("--bits", type=int, default=32)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--variants", default=",".join(DEFAULT_VARIANTS))
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--threads", type=int, default=1, help="torch threads per run")
    return p.parse_args(argv)


def run_one(args, variant: str, seed: int) -> dict:
    from crossmedia.config import resolve_config
    from crossmedia.eval import evaluate, load_for_evaluation
    from crossmedia.train import train

    model, overrides, _ = VARIANTS[variant]
    cfg = resolve_config({
        "model": {"name": model, "bits": args.bits, **json.loads(json.dumps(overrides))},
        "data": {"root": str(args.data), "image_source": "features", "text_field": "tags", "protocol": args.protocol},
        "train": {"epochs": args.epochs, "seed": seed, "threads": args.threads, "val_every": 1, "val_rule": "heldout"},
    })
    run_dir = args.work / args.protocol / f"{variant}-{args.bits}b-s{seed}"
    t0 = time.perf_counter()
    run = train(cfg, run_dir, overwrite=True)
    t_train = time.perf_counter() - t0
    ck, rd = load_for_evaluation(run.path)
    res = evaluate(ck.model, rd, ck.config, split="test", metrics=["map_all"])
    log = [json.loads(line) for line in (run.path / "log.jsonl").read_text().splitlines() if line.strip()]
    return {
        "variant": variant, "model": model, "bits": args.bits, "seed": seed, "overrides": overrides,
        "map_all": {d: float(res["results"][d]["map_all"]["value"]) for d in DIRECTIONS},
        "random_map": float(res["random_ranking"]["map_all"]), "best_epoch": ck.meta.get("best_epoch"),
        "val_score": ck.meta.get("best"), "val_curve": [r.get("val_score") for r in log],
        "train_time_s": round(t_train, 1), "loadavg_after": round(os.getloadavg()[0], 2),
        "protocol": rd.protocol.summary(), "ranking": res["ranking"],
        "model_config": ck.config["model"],
    }


def summarise(state: dict) -> dict:
    rows: dict[str, dict] = {}
    for r in state["runs"]:
        row = rows.setdefault(r["variant"], {"variant": r["variant"], "seeds": [], **{d: [] for d in DIRECTIONS}})
        row["seeds"].append(r["seed"])
        for d in DIRECTIONS:
            row[d].append(r["map_all"][d])
    agg = []
    for row in rows.values():
        out = {"variant": row["variant"], "seeds": sorted(row["seeds"]), "n_seeds": len(row["seeds"])}
        for d in DIRECTIONS:
            xs = row[d]
            out[d] = {"mean": statistics.fmean(xs), "std": statistics.stdev(xs) if len(xs) > 1 else None, "values": xs}
        agg.append(out)
    order = list(VARIANTS)
    return sorted(agg, key=lambda a: order.index(a["variant"]))


def format_markdown(state: dict) -> str:
    agg = {a["variant"]: a for a in state["aggregate"]}
    proto = state.get("protocol") or {}
    rnd = [r["random_map"] for r in state["runs"]]
    ref = agg.get("cmsl")
    lines = [
        f"# CMSL ablation on the icon scenes ({state['bits']} bits, protocol `{state['protocol_name']}`)", "",
        f"Data: `{state['dataset']['name']}` — {state['dataset'].get('n_items')} icon scenes (real emoji artwork, "
        f"generator {json.dumps(state['dataset'].get('source_summary'))}), EfficientNet-Lite0 ImageNet features "
        "(global 1280-d + 7×7 regions), tags as text. "
        f"Split: {proto.get('rule', 'see JSON')}. ",
        "",
        f"Training: {state['training']['epochs']} epochs, Adam lr {state['training']['lr']}, batch "
        f"{state['training']['batch_size']}, torch threads {state['training']['threads']}; checkpoint chosen every epoch "
        "on the val split (`train.val_rule=heldout`: val halves against each other), never on the test queries. "
        "Metric: mAP@all on the test queries against the retrieval set (relevant iff query and item share a "
        "subgroup label; ties by index; the database coded by the model's composite quantizer, queries continuous, "
        f"AQD). Random ranking ≈ {statistics.fmean(rnd):.4f}." if rnd else "", "",
        "| variant | seeds | image→text | text→image | Δ vs CMSL (i→t / t→i) |", "|---|---|---:|---:|---:|",
    ]

    def fmt(s):
        return f"{s['mean']:.4f}" + (f" ± {s['std']:.4f}" if s["std"] is not None else "")

    for v, a in agg.items():
        delta = "–"
        if ref is not None and v != "cmsl":
            delta = " / ".join(f"{a[d]['mean'] - ref[d]['mean']:+.4f}" for d in DIRECTIONS)
        lines.append(f"| {v} | {','.join(map(str, a['seeds']))} | {fmt(a['image->text'])} | {fmt(a['text->image'])} | "
                     f"{delta} |")
    lines += ["", "Variants: " + "; ".join(f"`{v}` = {VARIANTS[v][2]}" for v in agg), "",
              "Per run (seed: i→t / t→i, best val epoch, training seconds):", ""]
    for r in state["runs"]:
        lines.append(f"- {r['variant']} seed {r['seed']}: {r['map_all']['image->text']:.4f} / "
                     f"{r['map_all']['text->image']:.4f}, val {r['val_score']:.4f} at epoch {r['best_epoch']}, "
                     f"{r['train_time_s']:.0f} s")
    m = state["machine"]
    lines += ["", f"Machine: {m['cores']} CPU cores ({m['cpu']}), shared with other jobs; load average "
                  f"{[round(x, 2) for x in (m.get('loadavg_at_start') or [])]} when this invocation started, "
                  f"{state.get('loadavg_end')} at its end. git {state['git_commit']}; {state['created']}; "
                  f"`{state['command']}`.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    from crossmedia.config import resolve_config
    from crossmedia.data import Dataset
    from crossmedia.seed import git_commit, machine_info

    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    variants = [v for v in args.variants.split(",") if v]
    for v in variants:
        if v not in VARIANTS:
            print(f"error: --variants: unknown variant {v!r} (known: {', '.join(VARIANTS)})", file=sys.stderr)
            return 2
    ds = Dataset.load(args.data, check_files=False)
    src = ds.meta.get("source") or {}
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / f"{args.name}.json"
    state = json.loads(json_path.read_text()) if json_path.is_file() else {}
    runs: list[dict] = state.get("runs", [])
    done = {(r["variant"], r["seed"]) for r in runs}
    tc = resolve_config({"model": {"name": "cmsl"}})["train"]
    machine = machine_info()
    command = "python benchmarks/bench_cmsl_icons.py " + " ".join(sys.argv[1:] if argv is None else argv)

    def write():
        state.update({
            "benchmark": "CMSL ablation on the icon scenes", "bits": args.bits, "protocol_name": args.protocol,
            "dataset": {"root": str(args.data), "name": ds.name, "n_items": len(ds),
                        "source_summary": {k: src.get(k) for k in ("generator", "generator_version", "n", "seed", "lang",
                                                                   "styles", "noise") if k in src}},
            "protocol": runs[-1]["protocol"] if runs else None,
            "training": {"epochs": args.epochs, "lr": tc["lr"], "batch_size": tc["batch_size"], "threads": args.threads,
                         "model_selection": "best val mAP@all (train.val_rule=heldout), every epoch"},
            "variants": {v: VARIANTS[v][2] for v in dict.fromkeys([r["variant"] for r in runs] + variants)},
            "seeds": seeds, "git_commit": git_commit(), "machine": machine, "command": command,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "loadavg_end": round(os.getloadavg()[0], 2),
            "runs": runs, "aggregate": summarise({"runs": runs}),
        })
        json_path.write_text(json.dumps(state, indent=2) + "\n")
        (args.out / f"{args.name}.md").write_text(format_markdown(state))

    for seed in seeds:
        for variant in variants:
            if (variant, seed) in done:
                continue
            rec = run_one(args, variant, seed)
            runs.append(rec)
            print(f"{variant:>16} seed {seed}: i->t {rec['map_all']['image->text']:.4f} t->i "
                  f"{rec['map_all']['text->image']:.4f} (val {rec['val_score']:.4f} at epoch {rec['best_epoch']}, "
                  f"{rec['train_time_s']:.0f} s)", flush=True)
            write()
    if runs:
        write()
        print(format_markdown(state))
    return 0


if __name__ == "__main__":
    sys.exit(main())
