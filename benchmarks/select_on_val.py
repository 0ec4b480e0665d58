"""Model selection on the validation split: one model, several candidate configurations, ranked
by their best validation score (mean over seeds).

Each candidate is trained through ``crossmedia bench quality`` (one results folder per candidate
under ``--work``; finished cells are reused, so an interrupted selection resumes), with the
settings every candidate shares (``--set``) and its own overrides. The checkpoint of every run
is chosen by the data's validation rule (``train.val_rule``), and so is the candidate: the
highest mean of the runs' best validation scores. Only validation numbers are read: the test
scores the cells also hold appear neither in the table nor in the JSON, so a choice made from
them never saw the test queries::

    python benchmarks/select_on_val.py --data DATA --model cmsl --bits 32 --seeds 0,1,2 \\
        --work /tmp/sel --set train.epochs=100 --set model.graph.enabled=false \\
        --candidate base: --candidate wide:model.global_dim=128 \\
        --candidate cdq_loss:model.loss.option_set=cdq --out benchmarks/results/NAME

``--candidate NAME:KEY=VALUE;KEY=VALUE`` (``NAME:`` alone: the shared settings only). Writes
``OUT.md`` and ``OUT.json``: per candidate the overrides, the validation score per seed, mean ±
sample std, the selected epochs and the training time; the chosen candidate, its margin over
the runner-up and whether that margin exceeds the pooled std of the two.
"""

from __future__ import annotations

import argparse
import re
import shlex
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from crossmedia.bench.report import output_path, pooled_std  # noqa: E402

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def parse_candidate(spec: str) -> tuple[str, list[str]]:
    """``NAME:KEY=VALUE;KEY=VALUE`` → (NAME, ["KEY=VALUE", …])."""
    name, sep, rest = spec.partition(":")
    if not sep or not NAME.match(name):
        raise ValueError(f"--candidate {spec!r}: expected NAME:KEY=VALUE;KEY=VALUE (NAME: letters, digits, _ . -)")
    overrides = [o.strip() for o in rest.split(";") if o.strip()]
    for o in overrides:
        if "=" not in o or not o.split("=", 1)[0].strip():
            raise ValueError(f"--candidate {name}: {o!r} is not KEY=VALUE")
    return name, overrides


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="prepared dataset folder")
    p.add_argument("--model", required=True, help="registered model name")
    p.add_argument("--bits", type=int, default=32)
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    p.add_argument("--set", dest="shared", action="append", default=[], metavar="KEY=VALUE",
                   help="a setting every candidate shares (repeatable)")
    p.add_argument("--candidate", action="append", default=[], metavar="NAME:KEY=VALUE;…", required=True)
    p.add_argument("--image-source", default="auto", choices=("auto", "pixels", "features"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--work", type=Path, required=True, help="one results folder per candidate (reused)")
    p.add_argument("--out", type=Path, required=True, help="writes OUT.md and OUT.json")
    return p.parse_args(argv)


def val_records(report: dict, seeds: list[int]) -> list[dict]:
    """The validation side of each cell of a quality-bench report (never its test scores)."""
    from crossmedia.errors import UserError

    by_seed = {int(c["seed"]): c for c in report["cells"]}
    missing = [s for s in seeds if s not in by_seed]
    if missing:
        raise UserError(f"no finished run for seed(s) {', '.join(map(str, missing))} — another process may "
                          "still be training them in this work folder; rerun when it is done")
    return [{"seed": s, "best_val": float(by_seed[s]["best_val_score"]), "best_epoch": int(by_seed[s]["best_epoch"]),
             "epochs": int(by_seed[s]["epochs"]), "train_time_s": float(by_seed[s]["train_time_s"]),
             "val_selection": by_seed[s].get("val_selection", "")} for s in seeds]


def summarise(candidates: list[dict]) -> dict:
    for c in candidates:
        vals = [r["best_val"] for r in c["runs"]]
        c["val_mean"] = statistics.fmean(vals)
        c["val_std"] = statistics.stdev(vals) if len(vals) > 1 else None  # one seed: no spread
    ranked = sorted(candidates, key=lambda c: -c["val_mean"])
    best = ranked[0]
    out = {"chosen": best["name"]}
    if len(ranked) > 1:
        second = ranked[1]
        margin = best["val_mean"] - second["val_mean"]
        out.update({"runner_up": second["name"], "margin": margin, "pooled_std": None, "margin_exceeds_pooled_std": None})
        pooled = pooled_std(best["val_std"], second["val_std"])
        if pooled is not None:
            out.update({"pooled_std": pooled, "margin_exceeds_pooled_std": bool(margin > pooled)})
    return out


def markdown(report: dict) -> str:
    ch = report["choice"]
    lines = [f"# Model selection on the validation split: {report['model']}, {report['bits']} bits", "",
             "| candidate | overrides | val score (mean ± std over seeds) | per seed | selected epochs (of) | train s |",
             "|---|---|---:|---|---|---:|"]
    for c in report["candidates"]:
        name = f"**{c['name']}** (chosen)" if c["name"] == ch["chosen"] else c["name"]
        runs = c["runs"]
        per_seed = ", ".join(f"{r['best_val']:.4f}" for r in runs)
        spread = "" if c["val_std"] is None else f" ± {c['val_std']:.4f}"
        lines.append(f"| {name} | {' '.join(f'`{o}`' for o in c['overrides']) or '–'} | "
                     f"{c['val_mean']:.4f}{spread} | {per_seed} | "
                     f"{', '.join(str(r['best_epoch']) for r in runs)} ({runs[0]['epochs']}) | "
                     f"{statistics.fmean(r['train_time_s'] for r in runs):.0f} |")
    lines.append("")
    if "runner_up" in ch and ch["pooled_std"] is None:
        lines.append(f"Chosen: `{ch['chosen']}`, {ch['margin']:+.4f} over `{ch['runner_up']}` — one seed: no spread "
                     "to weigh the margin against.")
    elif "runner_up" in ch:
        verdict = ("larger than" if ch["margin_exceeds_pooled_std"] else "within")
        lines.append(f"Chosen: `{ch['chosen']}`, {ch['margin']:+.4f} over `{ch['runner_up']}` — {verdict} the pooled "
                     f"std of the two ({ch['pooled_std']:.4f}).")
    else:
        lines.append(f"Only one candidate: `{ch['chosen']}`.")
    lines += ["", f"**Selection.** Validation score: {report['val_selection']}. Each run keeps its best validation "
              "checkpoint; a candidate's score is the mean of its runs' best validation scores over the seeds "
              f"{', '.join(map(str, report['seeds']))}. The test scores of the runs are not read here.", "",
              f"**Settings every candidate shares.** {' '.join(f'`{o}`' for o in report['shared']) or '–'}; "
              f"data `{report['dataset']}`, image source {report['image_source']}.", "",
              f"Machine: {report['machine']}, torch threads {report['threads']}. git {report['git_commit']}; "
              f"{report['finished']}; wall time {report['wall_s']:.0f} s; command: `{report['command']}`.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    from crossmedia.bench import run_quality_bench
    from crossmedia.errors import UserError
    from crossmedia.io import write_json, write_text
    from crossmedia.seed import git_commit, machine_info

    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        specs = [parse_candidate(c) for c in args.candidate]
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not seeds:
        print("error: --seeds: expected at least one seed", file=sys.stderr)
        return 2
    names = [n for n, _ in specs]
    if len(set(names)) != len(names):
        print(f"error: --candidate: a name is given twice ({', '.join(names)})", file=sys.stderr)
        return 2
    if not (args.data / "dataset.json").is_file():
        print(f"error: --data {args.data}: not a prepared dataset (no dataset.json)", file=sys.stderr)
        return 2
    t0, code_commit = time.time(), git_commit(ROOT)  # the code this process runs, whenever its benches start
    candidates = []
    for name, overrides in specs:
        folder = args.work / name
        print(f"[{time.strftime('%H:%M:%S')}] candidate {name}: {' '.join(overrides) or '(shared settings)'}", flush=True)
        try:
            rep = run_quality_bench(args.data, [args.model], [args.bits], seeds, folder, threads=args.threads,
                                    overrides=[*args.shared, *(f"{args.model}:{o}" for o in overrides)],
                                    image_source=args.image_source, code_commit=code_commit)
            runs = val_records(rep, seeds)
        except UserError as e:  # refused before training, or a seed's run held by another process: no selection
            print(f"error: candidate {name}: {e}", file=sys.stderr)  # is written; finished cells stay for a rerun
            return 2
        candidates.append({"name": name, "overrides": overrides, "runs": runs})
    from crossmedia.data import Dataset

    m = machine_info()
    report = {
        "purpose": "model selection on the validation split (test scores not read)",
        "model": args.model, "bits": args.bits, "seeds": seeds, "shared": args.shared,
        "dataset": Dataset.load(args.data, check_files=False).name, "image_source": args.image_source,
        "val_selection": candidates[0]["runs"][0]["val_selection"],
        "candidates": candidates, "choice": summarise(candidates),
        "machine": f"{m['cores']} CPU cores ({m['cpu'] or 'CPU model unknown'}), load average at the end "
                   + (f"{m['loadavg_at_start'][0]:.2f}" if m["loadavg_at_start"] else "unknown"), "threads": args.threads,
        "git_commit": code_commit, "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "wall_s": time.time() - t0,
        "command": "python benchmarks/select_on_val.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(output_path(args.out, ".json"), report)
    write_text(output_path(args.out, ".md"), markdown(report))
    print(f"chosen: {report['choice']['chosen']}; wrote {output_path(args.out, '.md')}, {output_path(args.out, '.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
