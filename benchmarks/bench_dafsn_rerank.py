"""DAFSN two-stage retrieval (evidence): mAP@all of the cosine first stage against the same
checkpoints with each query's top-N re-sorted by the word-level attentional score R
(:func:`crossmedia.eval.rerank.evaluate_reranked`), for the runs that
``bench_dafsn_ablation.py`` trained (its ``--work`` folder), and the time the rerank costs.

    python benchmarks/bench_dafsn_rerank.py                     # runs dafsn-s0, -s1, -s2; N = 0, 20, 50, 100
    python benchmarks/bench_dafsn_rerank.py --runs dafsn-s0 --top 0,50
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("CROSSMEDIA_NO_PROGRESS", "1")
DIRECTIONS = ("image->text", "text->image")


def main(argv=None) -> int:
    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "crossmedia-bench-dafsn")
    p.add_argument("--runs", default="dafsn-s0,dafsn-s1,dafsn-s2")
    p.add_argument("--top", default="0,20,50,100")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=here / "results")
    p.add_argument("--name", default="dafsn_rerank")
    args = p.parse_args(argv)
    import torch

    from crossmedia.eval import evaluate
    from crossmedia.eval.rerank import evaluate_reranked
    from crossmedia.io import write_json, write_text
    from crossmedia.seed import git_commit
    from crossmedia.eval import load_for_evaluation
    from crossmedia.train.rundir import RunDir

    torch.set_num_threads(args.threads)
    tops = [int(t) for t in args.top.split(",")]
    rows = []
    for name in args.runs.split(","):
        ck, rd = load_for_evaluation(RunDir(args.work / "runs" / name).path)
        m, cfg = ck.model, ck.config
        for n in tops:
            t0 = time.perf_counter()
            res = evaluate(m, rd, cfg, metrics=["map_all"]) if n == 0 else evaluate_reranked(m, rd, cfg, top_n=n, metrics=["map_all"])
            dt = time.perf_counter() - t0
            rows.append({"run": name, "seed": cfg["train"]["seed"], "top_n": n, "wall_s": round(dt, 2),
                         "map_all": {d: float(res["results"][d]["map_all"]["value"]) for d in DIRECTIONS},
                         "n_queries": res["queries"]["count"], "n_database": res["database"]["count"]})
            print(f"{name} top {n:4d}: i->t {rows[-1]['map_all']['image->text']:.4f} "
                  f"t->i {rows[-1]['map_all']['text->image']:.4f} ({dt:.1f} s)", flush=True)
    agg = []
    for n in tops:
        rs = [r for r in rows if r["top_n"] == n]
        a = {"top_n": n, "n_runs": len(rs), "wall_s_mean": statistics.fmean(r["wall_s"] for r in rs)}
        for d in DIRECTIONS:
            xs = [r["map_all"][d] for r in rs]
            a[d] = {"mean": statistics.fmean(xs), "std": statistics.stdev(xs) if len(xs) > 1 else 0.0}
        agg.append(a)
    state = {"benchmark": "DAFSN cosine first stage vs fine-grained rerank of the top-N (same checkpoints)",
             "evaluation": {"metric": "mAP@all (DCMH protocol)", "queries": "protocol query split",
                            "database": "protocol retrieval split", "relevance": "share >= 1 label", "tie": "index",
                            "rerank": "top-N of the cosine ranking re-sorted by R (word-level attentional score); "
                                      "the rest keep their order"},
             "work": str(args.work), "git_commit": git_commit(), "threads": args.threads,
             "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__},
             "aggregate": agg, "runs": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / f"{args.name}.json", state)
    lines = ["| first stage + rerank | image→text | text→image | eval wall s (both directions) |", "|---|---:|---:|---:|"]
    for a in agg:
        label = "cosine only" if a["top_n"] == 0 else f"rerank top-{a['top_n']} by R"
        lines.append(f"| {label} | {a['image->text']['mean']:.4f} ± {a['image->text']['std']:.4f} | "
                     f"{a['text->image']['mean']:.4f} ± {a['text->image']['std']:.4f} | {a['wall_s_mean']:.1f} |")
    md = "\n".join(lines)
    write_text(args.out / f"{args.name}.md", md + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
