"""CMSL ablation benchmark on the embedded synthetic scenes (evidence, not a timed test).

Trains full CMSL and its ablations — no semantic expansion, no local (region–word) branch, no
intra-media loss, and CDQ (no graph, no expansion, no local branch, no intra loss) — at several
code lengths and seeds on the embedded dataset with noisy tags (p_drop 0.4, p_noise 0.2), picks
each run's checkpoint on the protocol's val queries (never the test queries), evaluates mAP@all
(DCMH protocol, relevance = share ≥ 1 label, ties by database index) on the test queries in both
directions, and writes ``cmsl_ablation.json`` (every run) and ``cmsl_ablation.md`` (mean ± std
over seeds). Resumable: finished runs recorded in the JSON are skipped.

    python benchmarks/bench_cmsl_ablation.py                      # defaults below
    python benchmarks/bench_cmsl_ablation.py --bits 32 --seeds 0 --epochs 4   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("CROSSMEDIA_NO_PROGRESS", "1")

#: variant name → (model, model overrides, description)
VARIANTS: dict[str, tuple[str, dict, str]] = {
    "cmsl": ("cmsl", {}, "full CMSL"),
    "no_expansion": ("cmsl", {"expansion": {"enabled": False}}, "CMSL without semantic expansion"),
    "no_local": ("cmsl", {"local": {"enabled": False}}, "CMSL without the local (region-word) branch"),
    "no_intra": ("cmsl", {"loss": {"intra_weight": 0.0}}, "CMSL without the intra-media loss"),
    "no_graph": ("cmsl", {"graph": {"enabled": False}, "expansion": {"enabled": False}},
                 "CMSL without the graph (no expansion, random word embeddings)"),
    "cdq": ("cdq", {}, "CDQ: no graph, no expansion, no local branch, no intra loss"),
}
DEFAULT_VARIANTS = ["cmsl", "no_expansion", "no_local", "no_intra", "cdq"]
DIRECTIONS = ("image->text", "text->image")


def parse_args(argv=None):
    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=None,
                   help="dataset folder (default: generate the quick-size synthetic dataset into --work)")
    p.add_argument("--n", type=int, default=2000, help="synthetic scenes when generating (quick size: 2000)")
    p.add_argument("--theme-strength", type=float, default=0.0,
                   help="scene themes when generating (0 = independent objects, the default dataset)")
    p.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "crossmedia-bench-cmsl")
    p.add_argument("--out", type=Path, default=here / "results")
    p.add_argument("--bits", default="16,32,64")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--variants", default=",".join(DEFAULT_VARIANTS))
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--threads", type=int, default=1, help="torch threads per run (1 is fastest on a busy 2-core machine)")
    p.add_argument("--name", default="cmsl_ablation", help="results file stem")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    from crossmedia.config import resolve_config
    from crossmedia.data import make_synth
    from crossmedia.eval import evaluate
    from crossmedia.seed import git_commit
    from crossmedia.eval import load_for_evaluation
    from crossmedia.train import train

    torch.set_num_threads(args.threads)
    bits_list = [int(b) for b in args.bits.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = [v for v in args.variants.split(",") if v]
    for v in variants:
        if v not in VARIANTS:
            sys.exit(f"unknown variant {v!r} (known: {', '.join(VARIANTS)})")
    data = args.data
    if data is None:
        ts = args.theme_strength
        data = args.work / (f"data-{args.n}" + (f"-theme{ts:g}" if ts else ""))
        gen = make_synth.ensure_synthetic_dataset(data, args.n, theme_strength=ts)
    else:
        from crossmedia.data.dataset import Dataset

        gen = Dataset.load(data, check_files=False).meta.get("source")
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / f"{args.name}.json"
    state = json.loads(json_path.read_text()) if json_path.is_file() else {}
    runs: list[dict] = state.get("runs", [])
    done = {(r["variant"], r["bits"], r["seed"]) for r in runs}
    t_all = time.perf_counter()
    protocol = None
    for bits in bits_list:
        for variant in variants:
            for seed in seeds:
                if (variant, bits, seed) in done:
                    continue
                model, overrides, _ = VARIANTS[variant]
                cfg = resolve_config({
                    "model": {"name": model, "bits": bits, **overrides},
                    "data": {"root": str(data)},
                    "train": {"epochs": args.epochs, "seed": seed, "lr": args.lr, "threads": args.threads},
                })
                run_dir = args.work / "runs" / f"{variant}-{bits}b-s{seed}"
                t0 = time.perf_counter()
                run = train(cfg, run_dir, overwrite=True)
                t_train = time.perf_counter() - t0
                ck, rd = load_for_evaluation(run.path)
                m, cfg = ck.model, ck.config
                res = evaluate(m, rd, cfg, split="test", metrics=["map_all"])
                protocol = rd.protocol.summary()
                rec = {
                    "variant": variant, "model": model, "bits": bits, "seed": seed, "overrides": overrides,
                    "map_all": {d: float(res["results"][d]["map_all"]["value"]) for d in DIRECTIONS},
                    "random_map": float(res["random_ranking"]["map_all"]),
                    "best_epoch": ck.meta.get("best_epoch"), "val_score": ck.meta.get("best"),
                    "train_time_s": round(t_train, 1), "ranking": res["ranking"],
                }
                runs.append(rec)
                print(f"{variant:>13} {bits:3d}b seed {seed}: i->t {rec['map_all']['image->text']:.4f} "
                      f"t->i {rec['map_all']['text->image']:.4f} (best epoch {rec['best_epoch']}, "
                      f"{t_train:.0f} s)", flush=True)
                state = _summary(runs, args, data, gen, protocol, git_commit(), variants, bits_list, seeds)
                state["wall_time_s_this_invocation"] = round(time.perf_counter() - t_all, 1)
                json_path.write_text(json.dumps(state, indent=2) + "\n")
    state = _summary(runs, args, data, gen, protocol, git_commit(), variants, bits_list, seeds)
    state["wall_time_s_this_invocation"] = round(time.perf_counter() - t_all, 1)
    json_path.write_text(json.dumps(state, indent=2) + "\n")
    md = format_markdown(state)
    (args.out / f"{args.name}.md").write_text(md + "\n")
    print(md)
    return 0


def _summary(runs, args, data, gen, protocol, commit, variants, bits_list, seeds) -> dict:
    table: dict = {}
    for r in runs:
        key = f"{r['variant']}|{r['bits']}"
        table.setdefault(key, {"variant": r["variant"], "bits": r["bits"], "seeds": [], **{d: [] for d in DIRECTIONS}})
        table[key]["seeds"].append(r["seed"])
        for d in DIRECTIONS:
            table[key][d].append(r["map_all"][d])
    agg = []
    for row in table.values():
        out = {"variant": row["variant"], "bits": row["bits"], "n_seeds": len(row["seeds"])}
        for d in DIRECTIONS:
            xs = row[d]
            out[d] = {"mean": statistics.fmean(xs), "std": statistics.stdev(xs) if len(xs) > 1 else 0.0}
        agg.append(out)
    return {
        "benchmark": "CMSL ablation on the embedded synthetic scenes (noisy tags)",
        "dataset": {"root": str(data), "generator": gen, "text_field": "tags",
                    "p_drop": (gen or {}).get("p_drop"), "p_noise": (gen or {}).get("p_noise"),
                    "theme_strength": (gen or {}).get("theme_strength", 0.0)},
        "protocol": protocol,
        "training": {"epochs": args.epochs, "lr": args.lr, "batch_size": 64, "threads": args.threads,
                     "model_selection": "best val mAP@all (val queries vs train items, mean of both directions)"},
        "evaluation": {"metric": "mAP@all (DCMH protocol)", "queries": "protocol query split",
                       "database": "protocol retrieval split", "relevance": "share >= 1 (colour, shape) label",
                       "tie": "index", "empty_query": "zero",
                       "ranking": "AQD: continuous query vs ICM-coded database (composite quantization)"},
        "variants": {v: VARIANTS[v][2] for v in variants}, "bits": bits_list, "seeds": seeds,
        "git_commit": commit, "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "aggregate": sorted(agg, key=lambda a: (a["bits"], list(VARIANTS).index(a["variant"]))),
        "runs": runs,
    }


def format_markdown(state: dict) -> str:
    tr, ds = state["training"], state["dataset"]
    proto = state.get("protocol") or {}
    sizes = proto.get("sizes") or proto.get("counts") or {}
    rnd = [r["random_map"] for r in state["runs"]]
    lines = [
        f"CMSL ablation — synthetic scenes, tags (p_drop {ds['p_drop']}, p_noise {ds['p_noise']}, "
        f"theme strength {ds.get('theme_strength', 0.0)}), "
        f"{(ds.get('generator') or {}).get('n', '?')} items "
        f"(splits {', '.join(f'{k} {v}' for k, v in sizes.items()) if sizes else 'see JSON'}); "
        f"{tr['epochs']} epochs, Adam lr {tr['lr']}, batch {tr['batch_size']}; checkpoint chosen on val; "
        f"mAP@all on the test queries, mean ± std over seeds {', '.join(map(str, state['seeds']))}; "
        f"random ranking ≈ {statistics.fmean(rnd):.3f}." if rnd else "",
        "",
        "| variant | bits | image→text | text→image | mean |",
        "|---|---:|---:|---:|---:|",
    ]
    for a in state["aggregate"]:
        it, ti = a["image->text"], a["text->image"]
        lines.append(f"| {a['variant']} | {a['bits']} | {it['mean']:.4f} ± {it['std']:.4f} | "
                     f"{ti['mean']:.4f} ± {ti['std']:.4f} | {(it['mean'] + ti['mean']) / 2:.4f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
