"""Two-stage retrieval with a fused rerank score, the weight chosen on the validation split.

The two-stage search reranks the first stage's top-N by the model's fine-grained score alone
(CMSL: SCAN's exact stacked cross attention). CMSL's paper scores with the multi-scale similarity
S_global + μ·S_local; here the two parts are trained by different losses, so the rerank can fuse
them only on one scale: within each query's top-N, z(fine) + w·z(first stage), each standardised
over those N (:mod:`crossmedia.eval.rerank`). This script measures, for every run given:

* on the run's validation folds (``train.val_rule``; the test queries are never looked at for
  the choice), the mAP@all of the fused score over the whole fold database, for each weight of
  ``--weights``; the weight with the best mean of both directions is chosen (ties: the smaller);
* on the test queries: the first stage alone, the rerank by the fine score alone (w = 0), and the
  chosen weight — with mAP@all and mAP@K (hashing convention, ``--top-n`` = K) — plus every
  weight of the grid, for reference only.

Writes ``OUT.json`` (every number, the conventions, seeds, git commit, machine, command) and
``OUT.md``. Progress goes to stderr, one line per stage of each run. Interrupt and resume: every
finished run is kept in ``OUT.partial.json`` (replaced atomically); the same command again measures
only the runs not yet there (a run is reused only if its folder, its ``run.json``, the weights, N
and the git commit are the same), and the file is removed once the results are written.

    python benchmarks/rerank_fusion.py --runs RUN [RUN ...] --out benchmarks/results/cmsl_rerank_fusion

``--database unseen`` ranks the test queries against the retrieval items outside train and val only
(``crossmedia eval --database``); the weight is still chosen on the validation folds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("CROSSMEDIA_NO_PROGRESS", "1")

DIRECTIONS = ("image->text", "text->image")


class BadInput(Exception):
    """A one-line error about the command line or a run folder (exit 2)."""


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", nargs="+", required=True, type=Path, help="trained run folders of one model with a fine-grained score")
    p.add_argument("--weights", default="0,0.25,0.5,1,2,4,8", help="first-stage weights w ≥ 0 to choose from")
    p.add_argument("--top-n", type=int, default=100, help="test: rerank each query's first-stage top-N (and mAP@N)")
    from crossmedia.data.protocol import DATABASE_VIEWS

    p.add_argument("--database", choices=DATABASE_VIEWS, default="retrieval",
                   help="test: which retrieval items are ranked (crossmedia eval --database); unseen = those outside "
                        "train and val")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, required=True, help="results file stem (OUT.json, OUT.md)")
    args = p.parse_args(argv)
    try:
        args.weight_list = [float(w) for w in args.weights.split(",") if w.strip()]
    except ValueError:
        raise BadInput(f"--weights: expected comma-separated numbers, got {args.weights!r}") from None
    if not args.weight_list or any(not (0 <= w < float("inf")) for w in args.weight_list):
        raise BadInput(f"--weights: expected finite numbers ≥ 0, got {args.weights!r}")
    args.weight_list = sorted(set(args.weight_list) | {0.0})  # w = 0, the fine score alone, is always a row
    if args.top_n < 1:
        raise BadInput(f"--top-n: expected ≥ 1, got {args.top_n}")
    for r in args.runs:
        if not (r / "run.json").is_file():
            raise BadInput(f"--runs: {r} is not a run folder (no run.json)")
    return args


def _both(res: dict, metric: str) -> dict:
    return {d: float(res["results"][d][metric]["value"]) for d in DIRECTIONS}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run_key(run: Path, weights: list[float], top_n: int, commit: str, database: str = "retrieval") -> str:
    """What a finished measurement depends on: the run folder and its ``run.json`` (a retrained run
    changes it), the weight grid, N, the test database and the code."""
    rj = hashlib.sha256((run / "run.json").read_bytes()).hexdigest()
    blob = json.dumps({"run": str(run.resolve()), "run_json": rj, "weights": weights, "top_n": top_n,
                       "commit": commit, **({"database": database} if database != "retrieval" else {})},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def load_partial(path: Path) -> dict:
    """Finished runs of an interrupted invocation (key → measurement); unreadable: none."""
    try:
        d = json.loads(path.read_text())
        return d["runs"] if isinstance(d.get("runs"), dict) else {}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def measure_run(run: Path, weights: list[float], top_n: int, echo=lambda m: None, database: str = "retrieval") -> dict:
    from crossmedia.eval import evaluate, load_for_evaluation
    from crossmedia.eval.rerank import evaluate_reranked_weights

    ck, rd = load_for_evaluation(run)
    m, cfg = ck.model, ck.config
    if not m.supports_fine_grained:
        raise BadInput(f"--runs: {run} is a {m.model_name} run, which has no fine-grained score to rerank with")
    folds = rd.protocol.validation_folds(str(cfg["train"]["val_rule"]))
    val_db = max(len(d) for _q, d in folds)
    t0 = time.perf_counter()
    echo(f"validation folds: fine scores over each fold's whole database ({val_db} items), {len(weights)} weights")
    # the whole fold database reranked: the fused score ranks every val item. The fine scores are
    # computed once per split and fused for every weight.
    val_res = evaluate_reranked_weights(m, rd, cfg, top_n=val_db, split="val", metrics=["map_all"],
                                        first_stage_weights=weights)
    val = {w: _both(val_res[w], "map_all") for w in weights}
    chosen = max(weights, key=lambda w: (sum(val[w].values()) / 2, -w))
    echo(f"chose w = {chosen:g} on validation ({time.perf_counter() - t0:.0f} s); test: the first stage alone")
    k = f"map@{top_n}"
    metrics = ["map_all", k]
    first = evaluate(m, rd, cfg, split="test", metrics=metrics, database=database)
    echo(f"test: each query's top {top_n} reranked, every weight ({time.perf_counter() - t0:.0f} s)")
    test_res = evaluate_reranked_weights(m, rd, cfg, top_n=top_n, split="test", metrics=metrics,
                                         first_stage_weights=weights, database=database)
    test = {w: {mm: _both(test_res[w], mm) for mm in metrics} for w in weights}
    conv = {mm: {kk: v for kk, v in first["results"]["text->image"][mm].items() if kk != "value"} for mm in metrics}
    return {
        "run": str(run), "model": m.model_name, "seed": int(cfg["train"]["seed"]),
        "dataset": rd.dataset.name, "protocol": rd.protocol.summary(),
        "val_rule": rd.protocol.validation_rule_text(str(cfg["train"]["val_rule"])),
        "val_map_all": {str(w): v for w, v in val.items()}, "chosen_weight": chosen,
        "first_stage": {mm: _both(first, mm) for mm in metrics},
        "test": {str(w): v for w, v in test.items()},
        "queries": first["queries"], "database": first["database"], "relevance": first["relevance"],
        "convention": conv, "ranking": first["ranking"], "wall_s": round(time.perf_counter() - t0, 1),
    }


def _ranking_text(spec: dict) -> str:
    return ", ".join(f"{key} {spec[key]}" for key in ("codec", "bits", "code_bytes", "distance", "query", "database")
                     if key in spec)


def _ms(xs) -> str:
    xs = list(xs)
    return f"{statistics.fmean(xs):.4f} ± {statistics.stdev(xs):.4f}" if len(xs) > 1 else f"{xs[0]:.4f}"


def markdown(state: dict) -> str:
    from crossmedia.eval.report import database_text

    runs, k = state["runs"], f"map@{state['top_n']}"
    r0 = runs[0]
    lines = [f"# Two-stage search with a fused rerank score — {r0['model']}, {r0['dataset']}", "",
             f"{r0['queries']['count']} test queries against {database_text(r0['database'])}; first stage: the "
             f"model's codec ({_ranking_text(r0['ranking'])}); rerank of each query's top {state['top_n']} by "
             "z(fine-grained score) + w · z(first-stage score), each standardised over the query's top N. "
             f"Seeds {', '.join(str(r['seed']) for r in runs)} (mean ± sample std over runs).", "",
             "**Weight chosen on validation** (" + r0["val_rule"] + "; the fused score ranks each fold's whole "
             "database; mAP@all, mean of both directions; the test queries are not looked at):", "",
             "| w | " + " | ".join(f"val seed {r['seed']}" for r in runs) + " |",
             "|---:|" + "---:|" * len(runs)]
    for w in state["weights"]:
        cells = []
        for r in runs:
            v = r["val_map_all"][str(w)]
            mark = " **(chosen)**" if r["chosen_weight"] == w else ""
            cells.append(f"{(v['image->text'] + v['text->image']) / 2:.4f}{mark}")
        lines.append(f"| {w:g} | " + " | ".join(cells) + " |")
    lines += ["", "**Test queries:**", "",
              f"| ranking | image→text mAP@all | text→image mAP@all | image→text {k} | text→image {k} |",
              "|---|---:|---:|---:|---:|"]

    def row(name, get):
        vals = [get(r) for r in runs]
        return (f"| {name} | " + " | ".join(_ms(v[mm][d] for v in vals) for mm in ("map_all", k) for d in DIRECTIONS)
                + " |")
    lines.append(row("first stage alone", lambda r: r["first_stage"]))
    lines.append(row(f"top-{state['top_n']} reranked by the fine score alone (w = 0)", lambda r: r["test"]["0.0"]))
    lines.append(row(f"top-{state['top_n']} reranked by the fused score, w chosen on val", lambda r: r["test"][str(r["chosen_weight"])]))
    lines += ["", "For reference only (not used for any choice), every weight on the test queries:", "",
              f"| w | image→text mAP@all | text→image mAP@all | image→text {k} | text→image {k} |",
              "|---:|---:|---:|---:|---:|"]
    for w in state["weights"]:
        lines.append(row(f"{w:g}", lambda r, w=w: r["test"][str(w)]))
    conv = {mm: r0["convention"][mm]["spec"] for mm in ("map_all", k)}
    lines += ["", f"**Metric.** mAP@all ({conv['map_all']['convention']}) and {k} ({conv[k]['convention']}); "
              f"{r0['relevance']}; ties: {conv['map_all']['tie']}; queries without a relevant item: "
              f"{conv['map_all']['empty_query']}. Val: the folds' query-weighted mean.", "",
              f"Machine: {state['machine']}; git {state['git_commit']}; {state['created']}; `{state['command']}`."]
    return "\n".join(lines)


def main(argv=None) -> int:
    import torch

    from crossmedia.bench.report import output_path
    from crossmedia.io import write_json, write_text
    from crossmedia.seed import git_commit

    try:
        args = parse_args(argv)
    except BadInput as e:
        print(f"rerank_fusion: {e}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    commit = git_commit()
    partial = args.out.with_name(args.out.name + ".partial.json")
    done = load_partial(partial)
    runs = []
    t0 = time.perf_counter()
    try:
        for i, r in enumerate(args.runs, 1):
            key = run_key(r, args.weight_list, args.top_n, commit, args.database)
            if key in done:
                log(f"[{i}/{len(args.runs)}] {r}: reused from {partial.name}")
                runs.append(done[key])
                continue
            log(f"[{i}/{len(args.runs)}] {r}: loading")
            res = measure_run(r, args.weight_list, args.top_n,
                              echo=lambda m, i=i: log(f"[{i}/{len(args.runs)}] {m}"), database=args.database)
            runs.append(res)
            done[key] = res
            write_json(partial, {"runs": done})
            log(f"[{i}/{len(args.runs)}] done in {res['wall_s']:.0f} s ({time.perf_counter() - t0:.0f} s in all)")
    except BadInput as e:
        print(f"rerank_fusion: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        log(f"interrupted; {len(done)} finished run(s) kept in {partial}: run the same command again to resume")
        return 130
    state = {"benchmark": "two-stage search, fused rerank weight chosen on validation", "top_n": args.top_n,
             "database": args.database,
             "weights": args.weight_list, "runs": runs, "git_commit": commit,
             "machine": f"{platform.machine()} {os.cpu_count()} CPU cores, torch threads {args.threads}, "
                        f"{platform.processor() or 'cpu'}; load average {os.getloadavg()[0]:.1f} at the end",
             "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
             "command": "python " + " ".join(shlex.quote(a) for a in sys.argv)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(output_path(args.out, ".json"), state)
    md = markdown(state)
    write_text(output_path(args.out, ".md"), md + "\n")
    partial.unlink(missing_ok=True)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
