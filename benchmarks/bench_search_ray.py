"""Benchmark: the latency cost of Ray — index shards on Ray actors of a local cluster vs the
same shards searched in-process.

Database: ``--items`` (default 10⁶) random composite codes, 32 bits (4 codebooks × K = 256),
128-d random codebooks, seed ``--seed`` (the scan cost does not depend on the code values).
Queries: random 128-d vectors, top-``k`` (10). Four configurations, measured interleaved
(query i goes through every configuration before query i+1, so machine-load drift hits all
alike), each over ``--queries`` single-query calls (a service's latency) and ``--batches``
batches of 100 queries:

  (a) in-process, 1 shard   — ``AQDEngine`` (numpy, 1 thread)
  (b) in-process, 2 shards  — :class:`ShardedEngine` of two ``AQDEngine`` halves (a thread each)
  (c) Ray, 1 shard          — :class:`RayShardedEngine`, one actor
  (d) Ray, 2 shards         — two actors; the router fans out and merges

Ray overhead = p50(c)/p50(a) − 1 and p50(d)/p50(b) − 1. Every Ray answer is checked to equal
the in-process one (ids and scores). Local cluster: ``ray.init(num_cpus=--cpus)`` in this
process, actors with one CPU each.

    PYTHONPATH=src python benchmarks/bench_search_ray.py [--items 1000000] [--queries 200]
        [--batches 5] [--out benchmarks/results/search_ray]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from crossmedia.bench.report import output_path  # noqa: E402


def pct(xs, p):
    return float(np.percentile(np.asarray(xs) * 1000, p))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--batches", type=int, default=5)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/search_ray")
    args = ap.parse_args()
    if not (1 <= args.items <= 10**9 and 1 <= args.queries <= 10**5 and 0 <= args.batches <= 1000):
        raise SystemExit("error: --items 1..1e9, --queries 1..1e5, --batches 0..1000 expected")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray
    import torch

    torch.set_num_threads(1)
    from crossmedia.io import write_json, write_text
    from crossmedia.codecs import CompositeCodec
    from crossmedia.engines import AQDEngine
    from crossmedia.search.ray_shards import RayShardedEngine
    from crossmedia.engines.shards import ShardedEngine, shard_bounds
    from crossmedia.seed import git_commit, machine_info

    meta = {"benchmark": "search_ray", "git_commit": git_commit(), "machine": machine_info(), "args": {
        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}, "ray": ray.__version__,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    rng = np.random.default_rng(args.seed)
    cb = rng.standard_normal((4, 256, 128)).astype(np.float32)
    codec = CompositeCodec.from_codebooks(cb, normalize=False)  # what the Ray actors rebuild: AQDEngine(cb, ·)
    codes = rng.integers(0, 256, (args.items, 4), dtype=np.uint8)
    queries = rng.standard_normal((args.queries, 128)).astype(np.float32)
    batches = [rng.standard_normal((100, 128)).astype(np.float32) for _ in range(args.batches)]

    t0 = time.time()
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    b = shard_bounds(args.items, 2)
    engines = {
        "in-process, 1 shard": AQDEngine(cb, codes),
        "in-process, 2 shards": ShardedEngine([AQDEngine(cb, codes[b[0] : b[1]]), AQDEngine(cb, codes[b[1] : b[2]])],
                                              [int(b[0]), int(b[1])]),
        # 3 actors on the cluster at once: each reserves a quarter of the CPUs (they all fit)
        "Ray, 1 shard": RayShardedEngine.create(codec, codes, 1, cpus_per_shard=args.cpus / 4),
        "Ray, 2 shards": RayShardedEngine.create(codec, codes, 2, cpus_per_shard=args.cpus / 4),
    }
    print(f"engines ready ({time.time() - t0:.0f} s)", flush=True)
    lat = {name: [] for name in engines}
    noop = []  # a Ray call that does nothing (the shard's item count): the round trip alone
    one = engines["Ray, 1 shard"].actors[0]
    blat = {name: [] for name in engines}
    mismatches = 0
    for e in engines.values():  # warm-up
        e.search(queries[0], args.k)
    for i in range(args.queries):
        ref = None
        for name, e in engines.items():
            t = time.perf_counter()
            s, r = e.search(queries[i], args.k)
            lat[name].append(time.perf_counter() - t)
            if ref is None:
                ref = (s, r)
            elif not (np.array_equal(r, ref[1]) and np.array_equal(s, ref[0])):
                mismatches += 1
        t = time.perf_counter()
        ray.get(one.ntotal.remote())
        noop.append(time.perf_counter() - t)
    for q in batches:
        for name, e in engines.items():
            t = time.perf_counter()
            e.search(q, args.k)
            blat[name].append((time.perf_counter() - t) / len(q))
    for name in ("Ray, 1 shard", "Ray, 2 shards"):
        engines[name].close()
    ray.shutdown()
    meta["machine"]["loadavg_at_end"] = list(os.getloadavg())

    rows = []
    for name in engines:
        rows.append({"config": name, "p50_ms": pct(lat[name], 50), "p99_ms": pct(lat[name], 99),
                     "mean_ms": float(np.mean(lat[name]) * 1000),
                     "batch100_ms_per_query": float(np.median(blat[name]) * 1000) if blat[name] else None})
    by = {r["config"]: r for r in rows}
    over = {
        "1 shard": by["Ray, 1 shard"]["p50_ms"] / by["in-process, 1 shard"]["p50_ms"] - 1,
        "2 shards": by["Ray, 2 shards"]["p50_ms"] / by["in-process, 2 shards"]["p50_ms"] - 1,
    }
    if blat["Ray, 2 shards"]:
        over["2 shards, batches of 100"] = (by["Ray, 2 shards"]["batch100_ms_per_query"]
                                            / by["in-process, 2 shards"]["batch100_ms_per_query"] - 1)
    rt = {"p50_ms": pct(noop, 50), "p99_ms": pct(noop, 99)}
    write_json(output_path(args.out, ".json"), {**meta, "rows": rows, "overhead": over, "mismatches": mismatches,
                                               "ray_empty_call": rt})
    m = meta["machine"]
    lines = [f"# Ray shards: latency overhead ({m['cpu']}, {m['cores']} cores, shared)", "",
             f"git {meta['git_commit']}, seed {args.seed}, Ray {ray.__version__}, load average "
             f"{m['loadavg_at_start']} → {m['loadavg_at_end']}", "",
             f"{args.items:,} items × 32-bit composite codes (4 × K=256, 128-d), top-{args.k}, numpy AQD scan with 1 thread "
             f"per shard; local Ray cluster `ray.init(num_cpus={args.cpus})` in the benchmark process, one actor per "
             f"shard (each reserving a quarter of the CPUs, so all three fit). {args.queries} single queries (interleaved over the configurations) and {args.batches} batches "
             "of 100.", "",
             "| configuration | p50 ms | p99 ms | mean ms | batch of 100: ms/query |", "|---|---|---|---|---|"]
    for r in rows:
        bq = "—" if r["batch100_ms_per_query"] is None else f"{r['batch100_ms_per_query']:.2f}"
        lines.append(f"| {r['config']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['mean_ms']:.2f} | {bq} |")
    lines += ["", "Ray latency overhead (p50 of Ray / p50 of the same shards in-process − 1):", ""]
    lines += [f"- {k}: {100 * v:+.1f} %" for k, v in over.items()]
    lines += ["", f"A Ray call that does nothing (same actor, same loop): p50 {rt['p50_ms']:.2f} ms, p99 "
              f"{rt['p99_ms']:.2f} ms — the round trip alone on this machine.", ""]
    lines += [f"Ray answers differing from in-process (ids or scores): {mismatches} of "
              f"{3 * args.queries} comparisons.", ""]
    write_text(output_path(args.out, ".md"), "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
