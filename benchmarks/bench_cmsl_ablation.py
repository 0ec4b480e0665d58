"""CMSL ablation benchmark on the embedded synthetic scenes (evidence, not a timed test).

Trains full CMSL and its ablations — no semantic expansion, no local (region–word) branch, no
intra-media loss, and CDQ (no graph, no expansion, no local branch, no intra loss) — at several
code lengths and seeds on the embedded dataset with noisy tags (p_drop 0.4, p_noise 0.2), picks
each run's checkpoint on the protocol's val split under the held-out rule (val queries against
held-out val items; never the test queries, never a training item), evaluates mAP@all
(DCMH protocol, relevance = share ≥ 1 label, ties by database index) on the test queries in both
directions, and writes ``cmsl_ablation.json`` (every run) and ``cmsl_ablation.md`` (mean ± std
over seeds), each replaced atomically. Resumable: finished runs recorded in the JSON are skipped,
and two processes given different ``--bits`` or ``--variants`` may fill the same file; a file
holding runs selected under another rule is refused (exit 2).

    python benchmarks/bench_cmsl_ablation.py                      # defaults below
    python benchmarks/bench_cmsl_ablation.py --bits 32 --seeds 0 --epochs 4   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
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
#: checkpoint selection of every run: validation queries against held-out validation items
VAL_RULE = "heldout"


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


def _fail(msg: str) -> int:
    print(f"bench_cmsl_ablation: {msg}", file=sys.stderr)
    return 2


def _run_key(r: dict) -> tuple:
    return (r["bits"], list(VARIANTS).index(r["variant"]), r["seed"])


def main(argv=None) -> int:
    args = parse_args(argv)
    args.command = "python benchmarks/bench_cmsl_ablation.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    import torch

    from crossmedia.bench.report import int_list, merge_runs
    from crossmedia.config import resolve_config
    from crossmedia.data import Dataset, make_synth
    from crossmedia.errors import UserError
    from crossmedia.eval import evaluate, load_for_evaluation
    from crossmedia.seed import git_commit
    from crossmedia.train import train

    try:
        bits_list, seeds = int_list(args.bits, "--bits"), int_list(args.seeds, "--seeds")
    except ValueError as e:
        return _fail(str(e))
    variants = [v for v in args.variants.split(",") if v]
    for v in variants:
        if v not in VARIANTS:
            return _fail(f"--variants: unknown variant {v!r} (known: {', '.join(VARIANTS)})")
    json_path = args.out / f"{args.name}.json"
    state = json.loads(json_path.read_text()) if json_path.is_file() else {}
    runs: list[dict] = state.get("runs", [])
    other = sorted({r.get("val_rule", "train_database") for r in runs} - {VAL_RULE})
    if other:
        return _fail(f"{json_path}: holds runs selected under val_rule={other[0]}, these use {VAL_RULE}; "
                     "give another --name or move the file away")
    torch.set_num_threads(args.threads)
    data = args.data
    if data is None:
        ts = args.theme_strength
        data = args.work / (f"data-{args.n}" + (f"-theme{ts:g}" if ts else ""))
        gen = make_synth.ensure_synthetic_dataset(data, args.n, theme_strength=ts)
    else:
        try:
            meta = Dataset.load(data, check_files=False).meta
        except UserError as e:
            return _fail(f"--data: {e}")
        gen = meta.get("source") if isinstance(meta.get("source"), dict) else None
    args.out.mkdir(parents=True, exist_ok=True)
    done = {(r["variant"], r["bits"], r["seed"]) for r in runs}
    t_all = time.perf_counter()
    protocol, selection = state.get("protocol"), state.get("training", {}).get("model_selection")
    for bits in bits_list:
        for variant in variants:
            for seed in seeds:
                if (variant, bits, seed) in done:
                    continue
                model, overrides, _ = VARIANTS[variant]
                cfg = resolve_config({
                    "model": {"name": model, "bits": bits, **overrides},
                    "data": {"root": str(data)},
                    "train": {"epochs": args.epochs, "seed": seed, "lr": args.lr, "threads": args.threads,
                              "val_rule": VAL_RULE},
                })
                run_dir = args.work / "runs" / f"{variant}-{bits}b-s{seed}"
                t0 = time.perf_counter()
                run = train(cfg, run_dir, overwrite=True)
                t_train = time.perf_counter() - t0
                ck, rd = load_for_evaluation(run.path)
                res = evaluate(ck.model, rd, ck.config, split="test", metrics=["map_all"])
                protocol = rd.protocol.summary()
                selection = ("best val mAP@all, mean of both directions; "
                             + rd.protocol.validation_rule_text(VAL_RULE))
                rec = {
                    "variant": variant, "model": model, "bits": bits, "seed": seed, "overrides": overrides,
                    "val_rule": VAL_RULE,
                    "map_all": {d: float(res["results"][d]["map_all"]["value"]) for d in DIRECTIONS},
                    "random_map": float(res["random_ranking"]["map_all"]),
                    "best_epoch": ck.meta.get("best_epoch"), "val_score": ck.meta.get("best"),
                    "train_time_s": round(t_train, 1), "ranking": res["ranking"],
                }
                runs.append(rec)
                print(f"{variant:>13} {bits:3d}b seed {seed}: i->t {rec['map_all']['image->text']:.4f} "
                      f"t->i {rec['map_all']['text->image']:.4f} (best epoch {rec['best_epoch']}, "
                      f"{t_train:.0f} s)", flush=True)
                runs = merge_runs(json_path, runs, _run_key)
                _write(args, json_path, runs, data, gen, protocol, selection, git_commit(), t_all)
    runs = merge_runs(json_path, runs, _run_key)
    md = _write(args, json_path, runs, data, gen, protocol, selection, git_commit(), t_all)
    print(md)
    return 0


def _write(args, json_path, runs, data, gen, protocol, selection, commit, t_all) -> str:
    from crossmedia.io import write_json, write_text

    before = json.loads(json_path.read_text()).get("commands", []) if json_path.is_file() else []
    args.commands = before + [c for c in [args.command] if c not in before]
    variants = [v for v in VARIANTS if any(r["variant"] == v for r in runs)]
    bits_list = sorted({r["bits"] for r in runs})
    seeds = sorted({r["seed"] for r in runs})
    state = _summary(runs, args, data, gen, protocol, selection, commit, variants, bits_list, seeds)
    state["wall_time_s_last_invocation"] = round(time.perf_counter() - t_all, 1)
    write_json(json_path, state)
    md = format_markdown(state)
    write_text(args.out / f"{args.name}.md", md + "\n")
    return md


def _summary(runs, args, data, gen, protocol, selection, commit, variants, bits_list, seeds) -> dict:
    table: dict = {}
    for r in runs:
        key = f"{r['variant']}|{r['bits']}"
        table.setdefault(key, {"variant": r["variant"], "bits": r["bits"], "seeds": [], **{d: [] for d in DIRECTIONS}})
        table[key]["seeds"].append(r["seed"])
        for d in DIRECTIONS:
            table[key][d].append(r["map_all"][d])
    agg = []
    for row in table.values():
        out = {"variant": row["variant"], "bits": row["bits"], "n_seeds": len(row["seeds"]), "seeds": row["seeds"]}
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
                     "model_selection": selection},
        "evaluation": {"metric": "mAP@all (DCMH protocol)", "queries": "protocol query split",
                       "database": "protocol retrieval split", "relevance": "share >= 1 (colour, shape) label",
                       "tie": "index", "empty_query": "zero",
                       "ranking": "AQD: continuous query vs ICM-coded database (composite quantization)"},
        "variants": {v: VARIANTS[v][2] for v in variants}, "bits": bits_list, "seeds": seeds,
        "git_commit": commit, "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "commands": args.commands,  # every invocation that filled this file (processes may share it)
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
        f"**Model selection.** {tr.get('model_selection')}.",
        "",
        "| variant | bits | image→text | text→image | mean |",
        "|---|---:|---:|---:|---:|",
    ]
    for a in state["aggregate"]:
        it, ti = a["image->text"], a["text->image"]
        lines.append(f"| {a['variant']} | {a['bits']} | {it['mean']:.4f} ± {it['std']:.4f} | "
                     f"{ti['mean']:.4f} ± {ti['std']:.4f} | {(it['mean'] + ti['mean']) / 2:.4f} |")
    lines += ["", f"git {state['git_commit']}; {state['machine']['cpus']} CPU cores, {tr['threads']} torch thread(s) "
              f"per run; " + "; ".join(f"`{c}`" for c in state.get("commands", [])) + "."]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
