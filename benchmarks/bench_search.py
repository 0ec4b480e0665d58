"""Benchmark: searching learned codes — our AQD scan vs FAISS on the same codes vs float search,
and the two-stage fine-grained rerank vs full fine-grained scoring.

Part 1 (scan), synthetic and seeded: a D-dimensional Gaussian mixture (``--clusters`` centres,
unit-variance noise around them at ``--noise``), databases of 10⁴, 10⁵, 10⁶ items (prefixes of
one 10⁶ set), held-out queries from the same mixture. Codebooks are trained with the project's
:class:`CompositeQuantizer` (residual k-means + ICM/least-squares rounds on a 20k training
sample; K = 256, 32 bits = 4 codebooks, 64 bits = 8) and every database item is ICM-coded.
Methods, each called one query at a time (a service's latency), top-10:
  (a) ``aqd``        our lookup-table scan (:class:`AQDEngine`, numpy, paired 16-bit tables)
  (b) ``faiss-aq``   FAISS ``IndexLocalSearchQuantizer`` with the same codebooks and codes
  (c) ``faiss-flat`` FAISS ``IndexFlatIP`` on the float vectors
  (d) ``numpy-float`` numpy brute force (matrix-vector product + the same top-k selection)
Reported: queries/s, p50/p99 latency (ms), recall@10 against the exact float inner-product
top-10, bytes per item, and ratios against the float brute force measured in the same process.
Threads: each thread count runs in its own process with OMP/OpenBLAS/MKL/torch threads set
before numpy is imported; our scan splits the database over the threads.

Part 2 (rerank): a run of a model with a fine-grained score (``--rerank-run``: CMSL, whose first
stage is AQD on its codes and whose fine-grained score is SCAN's; DAFSN, float cosine and its
attentional R; its data, e.g. the synthetic scenes or the icon scenes; run config recorded),
text→image over the protocol's query/retrieval split, the query texts taken from the field the run
was trained on (``data.text_field``): MAP@all (relevance = shared label, tie policy index) of the
first stage (the codec's default engine, recorded), of full fine-grained scoring (the score with
every database image) and of two-stage search (first-stage top-N reranked by the fine-grained
score, the rest in first-stage order), with the per-query time of each.

    PYTHONPATH=src python benchmarks/bench_search.py [--sizes 10000,100000,1000000] [--bits 32,64]
        [--threads 1,2] [--queries 200] [--cache DIR] [--out benchmarks/results/search]
        [--skip-scan] [--skip-rerank] [--rerank-run RUN --rerank-data DIR]
"""

from __future__ import annotations

import os
import sys

if "--worker" in sys.argv:  # thread count fixed before numpy / torch / faiss load
    _t = sys.argv[sys.argv.index("--threads") + 1]
    for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_v] = _t

import argparse
import json
import shlex
import subprocess
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from crossmedia.bench.report import output_path  # noqa: E402


def machine() -> dict:
    from crossmedia.seed import machine_info

    return machine_info()


# ---------------------------------------------------------------------------- data
def make_data(n: int, n_query: int, dim: int, clusters: int, noise: float, seed: int, latent: int = 0):
    """Gaussian mixture in ``dim`` dimensions; with ``latent`` > 0 the mixture lives in a
    ``latent``-dimensional space mapped to ``dim`` by a random linear map, plus 0.05 isotropic
    noise (learned embeddings have a low intrinsic dimension)."""
    rng = np.random.default_rng(seed)
    zd = latent or dim
    centres = rng.standard_normal((clusters, zd)).astype(np.float32)
    W = (rng.standard_normal((zd, dim)) / np.sqrt(zd)).astype(np.float32) if latent else None

    def sample(m):
        z = centres[rng.integers(0, clusters, m)] + noise * rng.standard_normal((m, zd), dtype=np.float32)
        if W is None:
            return z
        return z @ W + 0.05 * rng.standard_normal((m, dim), dtype=np.float32)

    x = np.empty((n, dim), np.float32)
    for s in range(0, n, 100_000):
        e = min(n, s + 100_000)
        x[s:e] = sample(e - s)
    q = sample(n_query)
    train = sample(20_000)
    return x, q.astype(np.float32), train.astype(np.float32)


def prepare(args) -> Path:
    """Vectors, queries, codebooks and codes (cached), ground-truth top-10 per size."""
    import torch

    from crossmedia.quant import CompositeQuantizer

    torch.set_num_threads(1)
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    nmax = max(args.sizes)
    tag = f"n{nmax}_d{args.dim}_c{args.clusters}_s{args.seed}" + (f"_z{args.latent}" if args.latent else "")
    data = cache / f"data_{tag}.npz"
    if not data.is_file():
        t0 = time.perf_counter()
        x, q, train = make_data(nmax, args.queries, args.dim, args.clusters, args.noise, args.seed, args.latent)
        np.savez(data, x=x, q=q, train=train)
        print(f"data {x.shape} in {time.perf_counter() - t0:.1f}s", flush=True)
    d = np.load(data)
    x, q, train = d["x"], d["q"], d["train"]
    for bits in args.bits:
        f = cache / f"codes_{tag}_b{bits}.npz"
        if f.is_file():
            continue
        t0 = time.perf_counter()
        cq = CompositeQuantizer(M=bits // 8, K=256, dim=args.dim, icm_iters=3, chunk=8192)
        cq.train(train, n_iter=4, seed=args.seed, kmeans_iter=10)
        t1 = time.perf_counter()
        codes = cq.encode(x)
        err = cq.quantization_error(x[:100_000], codes[:100_000]) / float((x[:100_000] ** 2).sum(1).mean())
        np.savez(f, codebooks=cq.codebooks, codes=codes, train_s=t1 - t0, encode_s=time.perf_counter() - t1,
                 rel_error=err)
        print(f"{bits} bits: train {t1 - t0:.1f}s, encode {time.perf_counter() - t1:.1f}s, rel. error {err:.3f}",
              flush=True)
    gt = cache / f"gt_{tag}.npz"
    if not gt.is_file():
        from crossmedia.engines import top_k

        tops = {}
        for n in args.sizes:
            s = torch.from_numpy(q) @ torch.from_numpy(x[:n]).T
            tops[str(n)] = np.stack([top_k(row, 10)[1] for row in s.numpy()])
        np.savez(gt, **tops)
    return cache / tag


def time_queries(fn, q, warm: int = 3) -> np.ndarray:
    for i in range(min(warm, len(q))):
        fn(q[i : i + 1])
    lat = np.empty(len(q))
    res = []
    for i in range(len(q)):
        t0 = time.perf_counter()
        r = fn(q[i : i + 1])
        lat[i] = time.perf_counter() - t0
        res.append(r)
    return lat, np.concatenate(res)


def worker(args) -> None:
    import faiss
    import torch

    from crossmedia.engines import AQDEngine, FaissEngine, FloatEngine, top_k

    T = int(args.threads[0])
    torch.set_num_threads(T)
    faiss.omp_set_num_threads(T)
    base = Path(args.cache)
    tag = Path(args.tag).name
    d = np.load(base / f"data_{tag}.npz")
    x, q = d["x"], d["q"]
    gt = np.load(base / f"gt_{tag}.npz")
    rows = []

    def record(method, n, bits, lat, found, bpi, extra=None):
        truth = gt[str(n)]
        rec = float(np.mean([len(set(found[i]) & set(truth[i])) / 10 for i in range(len(found))]))
        rows.append({"method": method, "n": n, "bits": bits, "threads": T, "queries": len(lat),
                     "qps": len(lat) / lat.sum(), "p50_ms": 1e3 * np.percentile(lat, 50),
                     "p99_ms": 1e3 * np.percentile(lat, 99), "recall@10": rec, "bytes_per_item": bpi, **(extra or {})})
        r = rows[-1]
        print(f"T={T} n={n:>8} bits={bits!s:>4} {method:<12} {r['qps']:8.1f} q/s  p50 {r['p50_ms']:7.2f} ms  "
              f"p99 {r['p99_ms']:7.2f} ms  R@10 {rec:.3f}  {bpi:g} B/item", flush=True)

    for n in args.sizes:
        nq = args.queries if n < 1_000_000 else min(args.queries, args.queries_1m)
        qq = q[:nq]
        xs = np.ascontiguousarray(x[:n])
        fe = FloatEngine(xs)
        lat, found = time_queries(lambda v: top_k(fe.scores(v)[0], 10)[1][None], qq)
        record("numpy-float", n, None, lat, found, 4 * args.dim)
        ff = FaissEngine.from_vectors(xs)
        lat, found = time_queries(lambda v: ff.index.search(v, 10)[1], qq)
        record("faiss-flat", n, None, lat, found, 4 * args.dim)
        del ff
        for bits in args.bits:
            c = np.load(base / f"codes_{tag}_b{bits}.npz")
            cb, codes = c["codebooks"], c["codes"][:n]
            eng = AQDEngine(cb, codes, threads=T)
            lat, found = time_queries(lambda v: eng.search(v, 10)[1], qq)
            record("aqd", n, bits, lat, found, eng.bytes_per_item)
            fa = FaissEngine.from_codes(cb, codes)
            lat, found = time_queries(lambda v: fa.index.search(v, 10)[1], qq)
            record("faiss-aq", n, bits, lat, found, fa.bytes_per_item)
            del fa, eng
    Path(args.worker_out).write_text(json.dumps(rows, indent=1))


# ---------------------------------------------------------------------------- rerank
def run_text_field(run: Path) -> str:
    """The text field the run was trained on (``data.text_field`` of its recorded config)."""
    import yaml

    cfg = yaml.safe_load((Path(run) / "config.yaml").read_text(encoding="utf-8")) or {}
    return str((cfg.get("data") or {}).get("text_field") or "caption")


def _as_text(value) -> str:
    """A query string from an item's text field (a tag list is joined with spaces, as the index
    stores it)."""
    from crossmedia.search.index import _as_text as index_text

    return index_text(value) or ""


# first-stage rows of the report, by the run's codec
_FIRST_STAGE = {"composite": "AQD", "pq": "AQD", "float_cosine": "float cosine", "float_ip": "float inner product",
                "sign": "Hamming"}


def rerank_part(args) -> dict:
    import torch

    from crossmedia.metrics import PrecomputedScorer, evaluate_ranking
    from crossmedia.models import REGION_FEATURES
    from crossmedia.search import Index
    from crossmedia.search.query import text_batch

    torch.set_num_threads(1)
    run, data = Path(args.rerank_run), Path(args.rerank_data)
    out_ix = Path(args.cache) / "rerank_index"
    from crossmedia.data import Dataset

    ds = Dataset.load(data)
    q_idx = ds.protocol()["query"]
    if args.rerank_queries:  # the first N queries of the protocol (its order is seeded)
        q_idx = q_idx[: args.rerank_queries]
    if args.rerank_db:  # a separate (larger) database: all its items; queries stay the run data's query split
        db = Dataset.load(args.rerank_db)
        if db.label_names != ds.label_names:
            sys.exit(f"--rerank-db {args.rerank_db}: label names differ from {data}")
        ix = Index.build(run, db.root, out_ix, split="all", overwrite=True)
    else:
        db = ds
        ix = Index.build(run, data, out_ix, overwrite=True)
    row_of = {i: r for r, i in enumerate(db.ids)}
    Yq, Yd = ds.labels[q_idx], db.labels[[row_of[i] for i in ix.ids]]
    model = ix.model
    eng = ix.engine("image")
    regions = torch.from_numpy(np.asarray(ix.arrays["regions"], dtype=np.float32))
    n = len(ix)
    field = run_text_field(run)
    texts = [_as_text(ds.items[i].get(field)) for i in q_idx]
    # a query none of whose words the model knows cannot be searched (the service refuses it):
    # left out of every ranking here, and counted
    from crossmedia.errors import UserError

    batches, keep = [], []
    for j, t in enumerate(texts):
        try:
            batches.append(text_batch(model.info, ix._vocab, t))
            keep.append(j)
        except UserError:
            pass
    n_unknown = len(texts) - len(keep)
    q_idx = [q_idx[j] for j in keep]
    texts = [texts[j] for j in keep]
    Yq = ds.labels[q_idx]
    K = max(args.rerank_n)
    # rankings: the first stage's scores of every item, and the fine-grained score of every item
    # (the scoring kernel alone on float32 regions already in RAM: its time is a lower bound of an
    # exhaustive fine-grained search)
    @torch.no_grad()
    def fine_all(b) -> np.ndarray:  # the scoring kernel alone: every item's fine-grained score
        return torch.cat([model.fine_grained_scores({REGION_FEATURES: regions[s0 : s0 + 512]}, b)[:, 0]
                          for s0 in range(0, n, 512)]).numpy()

    with torch.no_grad():
        first = np.stack([eng.scores(model.encode_text(b).numpy())[0] for b in batches])
    full = np.stack([fine_all(b) for b in batches])

    def kernel_pass():
        ts = []
        for b in batches:
            t0 = time.perf_counter()
            fine_all(b)
            ts.append(time.perf_counter() - t0)
        return ts

    def search_pass(k: int, rerank: int, keep_hits: bool = False):
        # what a user runs: text in, hits out, through the one public call
        ts, hits = [], []
        for t in texts:
            t0 = time.perf_counter()
            h = ix.search_text(t, k=k, rerank=rerank)
            ts.append(time.perf_counter() - t0)
            if keep_hits:
                hits.append(h)
        return ts, hits

    # every timed row in a loop of its own (interleaved with the exhaustive calls the first stage
    # would run on caches they had flushed), the rows in rotation ``--rerank-repeats`` times: a
    # shared machine's slow spell then falls on every row, and each ratio is taken within one
    # rotation; reported: the median rotation's mean ms/query and the median of the ratios
    rows_t: dict[str, list[float]] = {}
    hits_of: dict[int, list] = {}
    for rep in range(max(int(args.rerank_repeats), 1)):
        for name, fn in [("first", lambda: search_pass(K, 0)), ("full", lambda: search_pass(K, n)),
                         ("kernel", lambda: (kernel_pass(), None)),
                         *[(f"N{N}", lambda N=N: search_pass(N, N, keep_hits=rep == 0)) for N in args.rerank_n]]:
            ts, hits = fn()
            rows_t.setdefault(name, []).append(float(np.mean(ts)))
            if hits:
                hits_of[int(name[1:])] = hits

    def ms(name):
        return 1e3 * float(np.median(rows_t[name]))

    def ratio(name, ref):  # median over rotations of the within-rotation ratio; and each rotation's
        each = [a / b for a, b in zip(rows_t[name], rows_t[ref])]
        return float(np.median(each)), each

    def mapall(dist):
        r = evaluate_ranking(PrecomputedScorer(dist), Yq, Yd, ["map_all", f"map@{K}"], tie="index")
        return {"map_all": r["map_all"]["value"], f"map@{K}": r[f"map@{K}"]["value"]}

    def timing(name):
        cf, cf_each = ratio(name, "full")
        ck, ck_each = ratio(name, "kernel")
        return {"ms_per_query": ms(name), "ms_per_query_each_rotation": [1e3 * x for x in rows_t[name]],
                "cost_vs_full": cf, "cost_vs_full_each_rotation": cf_each,
                "cost_vs_kernel": ck, "cost_vs_kernel_each_rotation": ck_each}

    res = {"run": str(run), "model": model.model_name, "first_stage_codec": ix.codec.name,
           "first_stage_engine": ix.codec.engine_name(None),
           "data": str(data), "database": str(db.root), "n_db": n, "n_queries": len(q_idx),
           "queries_left_out_no_known_word": n_unknown, "text_field": field,
           "direction": "text->image", "measures": ["map_all", f"map@{K}"], "rotations": len(rows_t["first"]),
           "metric": f"mAP@all and mAP@{K} (hashing convention: ÷ relevant in the top {K}); relevance = shared label; "
                     "tie policy index; queries without relevant items count 0",
           "timing": f"ms/query: mean over the queries of Index.search_text (encode, search, rerank, hits) with k={K}, "
                     "one thread; the full fine-grained row reranks every item (rerank=n); its scoring kernel alone "
                     "(float32 regions preloaded) is recorded as kernel_ms_per_query. Every row timed in a loop of its "
                     f"own, the rows in rotation {len(rows_t['first'])} times: ms/query of the median rotation, costs "
                     "= the median over rotations of the ratio within one rotation",
           "first_stage": {**mapall(-first), **timing("first")},
           "full_fine": {**mapall(-full), **timing("full"), "kernel_ms_per_query": ms("kernel"),
                         "kernel_ms_per_query_each_rotation": [1e3 * x for x in rows_t["kernel"]]},
           "two_stage": []}
    from crossmedia.engines import top_k

    for N in args.rerank_n:
        dist = np.empty_like(first)
        for i, hits in enumerate(hits_of[N]):
            order = [ix._row[h.id] for h in hits]
            taken = set(order)
            rest = [r for r in top_k(first[i], n)[1] if r not in taken]
            dist[i, np.array(order + rest)] = np.arange(n)
        m = mapall(dist)
        rec = {"N": N, **m, **timing(f"N{N}")}
        for key in res["measures"]:
            rec[f"{key}_vs_full"] = m[key] / res["full_fine"][key]
        res["two_stage"].append(rec)
        print(f"rerank N={N}: " + ", ".join(f"{k} {m[k]:.4f} ({rec[k + '_vs_full']:.3f} of full)" for k in m)
              + f", {rec['ms_per_query']:.2f} ms/query ({rec['cost_vs_full']:.3f} of full)", flush=True)
    print("first stage " + ", ".join(f"{k} {res['first_stage'][k]:.4f}" for k in res["measures"])
          + "; full fine-grained " + ", ".join(f"{k} {res['full_fine'][k]:.4f}" for k in res["measures"])
          + f" ({res['full_fine']['ms_per_query']:.1f} ms/query)", flush=True)
    return res


# ---------------------------------------------------------------------------- report
def write_report(out: Path, meta: dict, rows: list[dict], rerank: dict | None) -> None:
    from crossmedia.io import write_json, write_text

    write_json(output_path(out, ".json"), {**meta, "scan": rows, "rerank": rerank})
    lines = [f"# Search benchmark ({meta['machine']['cpu']}, {meta['machine']['cores']} cores, shared)", "",
             f"git {meta['git_commit']}, seed {meta['args']['seed']}, load average {meta['machine']['loadavg_at_start']} "
             f"→ {meta['machine'].get('loadavg_at_end')}"
             + (f"; command: `{meta['command']}`" if meta.get("command") else ""), ""]
    if rows:
        lines += [f"Scan: dim {meta['args']['dim']}, top-10, one query per call; ratios against numpy float brute "
                  "force in the same process and thread count.", "",
                  "| n | threads | method | bits | q/s | p50 ms | p99 ms | recall@10 | B/item | speed vs float | size vs float |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
    ref = {(r["n"], r["threads"]): r for r in rows if r["method"] == "numpy-float"}
    for r in rows:
        f = ref[(r["n"], r["threads"])]
        lines.append(f"| {r['n']:,} | {r['threads']} | {r['method']} | {r['bits'] or '—'} | {r['qps']:.1f} | "
                     f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['recall@10']:.3f} | {r['bytes_per_item']:g} | "
                     f"{f['p50_ms'] / r['p50_ms']:.1f}× | {f['bytes_per_item'] / r['bytes_per_item']:.0f}× smaller |")
    aq = {(r["n"], r["threads"], r["bits"]): r for r in rows if r["method"] == "faiss-aq"}
    if rows:
        lines += ["", "AQD vs FAISS on the same codes (p50 latency ratio, < 1 = ours faster):", ""]
    for r in rows:
        if r["method"] == "aqd":
            o = aq[(r["n"], r["threads"], r["bits"])]
            lines.append(f"- n={r['n']:,}, {r['bits']} bits, {r['threads']} thread(s): {r['p50_ms'] / o['p50_ms']:.2f}")
    if rerank:
        ms = rerank["measures"]
        ff = rerank["full_fine"]
        lines += ["", f"## Two-stage rerank ({rerank.get('model', 'cmsl')}, {rerank['direction']}, {rerank['n_queries']} queries × {rerank['n_db']:,} items)",
                  "", f"{rerank['metric']}"
                  + (f"; query texts from the run's `{rerank['text_field']}` field" if rerank.get("text_field") else "")
                  + (f"; {rerank['queries_left_out_no_known_word']} queries left out: none of their words is in the "
                     "model's vocabulary" if rerank.get("queries_left_out_no_known_word") else ""), "",
                  *([rerank["timing"] + ".", ""] if rerank.get("timing") else []),
                  "| ranking | " + " | ".join(f"{m} | vs full" for m in ms)
                  + " | ms/query | cost vs full | cost vs full's kernel alone |",
                  "|---|" + "---|---|" * len(ms) + "---|---|---|"]
        kernel = ff.get("kernel_ms_per_query")

        def cost(r, key, ref_ms):  # the recorded median of within-rotation ratios (older files: ratio of means)
            if f"{key}_each_rotation" in r:
                each = r[f"{key}_each_rotation"]
                return f"{r[key]:.3f}" + (f" ({', '.join(f'{x:.3f}' for x in each)})" if len(each) > 1 else "")
            return f"{r['ms_per_query'] / ref_ms:.3f}" if ref_ms else "–"

        def row(name, r):
            return (f"| {name} | " + " | ".join(f"{r[m]:.4f} | {r[m] / ff[m]:.3f}" for m in ms)
                    + f" | {r['ms_per_query']:.2f} | {cost(r, 'cost_vs_full', ff['ms_per_query'])} | "
                    + cost(r, "cost_vs_kernel", kernel) + " |")

        # files from before the codec was recorded: every rerank run was CMSL's, first stage AQD
        codec = rerank.get("first_stage_codec", "composite")
        first_name = _FIRST_STAGE.get(codec, codec)
        lines.append(row(f"first stage ({first_name})", rerank["first_stage"]))
        lines.append(row("full fine-grained", ff))
        if kernel:
            lines.append(f"| full fine-grained: scoring kernel alone | – |" + " – | – |" * (len(ms) - 1)
                         + f" – | {kernel:.2f} | {kernel / ff['ms_per_query']:.3f} | 1.000 |")
        for t in rerank["two_stage"]:
            lines.append(row(f"{first_name} top-{t['N']} + rerank", t))
    write_text(output_path(out, ".md"), "\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--bits", default="32,64")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--noise", type=float, default=0.5)
    ap.add_argument("--latent", type=int, default=0, help="Intrinsic dimension of the mixture (0 = dim).")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--queries-1m", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default="/tmp/crossmedia-bench-search")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "search"))
    ap.add_argument("--skip-scan", action="store_true")
    ap.add_argument("--skip-rerank", action="store_true")
    ap.add_argument("--rerank-run", default=None)
    ap.add_argument("--rerank-data", default=None)
    ap.add_argument("--rerank-db", default=None, help="Dataset whose items (all) form the rerank database.")
    ap.add_argument("--rerank-n", default="20,50,100")
    ap.add_argument("--rerank-repeats", type=int, default=5,
                    help="Rerank part: rotations of the timed rows (medians reported).")
    ap.add_argument("--rerank-queries", type=int, default=0,
                    help="Rerank part: the first N queries of the protocol (0 = all).")
    ap.add_argument("--report-only", action="store_true", help="Rewrite OUT.md from OUT.json.")
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--tag", default=None)
    ap.add_argument("--worker-out", default=None)
    args = ap.parse_args()
    args.sizes = [int(float(s)) for s in args.sizes.split(",")]
    args.bits = [int(b) for b in args.bits.split(",")]
    args.threads = [int(t) for t in args.threads.split(",")]
    args.rerank_n = [int(t) for t in args.rerank_n.split(",")]
    if args.worker:
        worker(args)
        return
    if args.report_only:  # rewrite the .md from the .json
        d = json.loads(output_path(Path(args.out), ".json").read_text())
        write_report(Path(args.out), {k: v for k, v in d.items() if k not in ("scan", "rerank")}, d["scan"], d["rerank"])
        return
    from crossmedia.seed import git_commit

    meta = {"benchmark": "search", "git_commit": git_commit(), "machine": machine(),
            "args": {k: v for k, v in vars(args).items() if not k.startswith("worker")},
            "command": "python benchmarks/bench_search.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    rows: list[dict] = []
    prev = output_path(Path(args.out), ".json")
    if args.skip_scan and prev.is_file():  # keep the scan part of an earlier run (rerank re-run only)
        old = json.loads(prev.read_text())
        rows = old.get("scan") or []
        if rows:
            meta["scan_from"] = {k: old.get(k) for k in ("git_commit", "machine", "started", "args")}
    if not args.skip_scan:
        tag = prepare(args)
        for T in args.threads:
            wo = Path(args.cache) / f"rows_T{T}.json"
            cmd = [sys.executable, __file__, "--worker", "--threads", str(T), "--tag", str(tag), "--worker-out", str(wo),
                   "--cache", args.cache, "--sizes", ",".join(map(str, args.sizes)), "--bits",
                   ",".join(map(str, args.bits)), "--dim", str(args.dim), "--queries", str(args.queries),
                   "--queries-1m", str(args.queries_1m)]
            subprocess.run(cmd, check=True)
            rows += json.loads(wo.read_text())
    rerank = None
    if not args.skip_rerank:
        if not (args.rerank_run and args.rerank_data):
            sys.exit("--rerank-run and --rerank-data are needed for the rerank part (or --skip-rerank)")
        rerank = rerank_part(args)
        rerank["run_config"] = (Path(args.rerank_run) / "config.yaml").read_text()
    meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    meta["machine"]["loadavg_at_end"] = list(os.getloadavg())
    write_report(Path(args.out), meta, rows, rerank)
    print(f"wrote {output_path(Path(args.out), '.md')}")


if __name__ == "__main__":
    main()
