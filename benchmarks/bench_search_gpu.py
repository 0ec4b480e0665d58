"""Benchmark: code search on a GPU — the fused Triton AQD scan, the device top-k torch path and
the sharded index against the references of the same run: the previous torch engine (scores
copied to the host, top-k in numpy), the numpy engine on every CPU thread, a plain all-GPU
gather + ``torch.topk``, and float32 / float16 brute force on the GPU.

Data (seeded): random composite codes (M = bits/8 codebooks × K = 256, uint8 per codebook)
generated on the device, random 128-d codebooks, float vectors (N × 128) for the brute-force
references; the scan cost does not depend on the values. Queries: batches of ``--batch`` (100)
random 128-d vectors, top-``--k`` (10). Timing: CUDA-synchronised wall clock per batch, one
warm-up batch, then repeated batches until 0.5 s or 30 batches (1 batch for the slow
references at 10⁷); reported as ms per query (batch time / batch size).
Agreement: the fraction of queries whose top-1 row equals the plain gather reference's
(float32 sums in a different order may swap near-ties).

Sizes: 10⁶ and 10⁷ items × 32 / 64 bits (all methods), 5·10⁷ (the GPU scans), and 10⁹ × 32
bits (the fused kernel alone: 4 GB of codes, where float16 vectors would need 256 GB; the
peak device memory is recorded). Kernel blocks: a small sweep at 10⁶ items picks (BQ, BN) per
bit width for the larger sizes.

Without a GPU the CPU parts run (``--cpu-items``): the numpy engine, the previous torch path
(host top-k), the device top-k torch path on CPU and two CPU shards — and the GPU rows are
written as pending. Everything goes to ``--out`` (.md + .json) with git commit, machine,
seed and versions.

    PYTHONPATH=src python benchmarks/bench_search_gpu.py [--sizes 1e6,1e7,5e7] [--billion/--no-billion]
        [--cpu-items 1000000] [--out benchmarks/results/search_gpu]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from crossmedia.bench.report import output_path  # noqa: E402

DIM, K_CODE = 128, 256


# ---------------------------------------------------------------------------- timing
def timed(fn, sync, min_s: float = 0.5, max_reps: int = 30, warm: bool = True) -> tuple[float, object]:
    """Median seconds of ``fn()`` (after one warm-up call), and its last result."""
    out = fn() if warm else None
    sync()
    times = []
    t_all = time.perf_counter()
    while len(times) < max_reps and (len(times) < 3 or time.perf_counter() - t_all < min_s):
        t = time.perf_counter()
        out = fn()
        sync()
        times.append(time.perf_counter() - t)
        if not warm and len(times) >= 1 and times[0] > 2.0:  # a slow reference: one batch is enough
            break
    return float(np.median(times)), out


# ---------------------------------------------------------------------------- references
def host_topk_engine(cb_t, codes_t, torch, chunk: int = 1 << 18):
    """The previous ``AQDEngine(backend="torch")`` search: pair tables and gathers on the
    device, each chunk's scores copied to the host, top-k per query in numpy, merged."""
    from crossmedia.engines.base import merge_top_k, top_k

    M = codes_t.shape[1]
    c = codes_t.to(torch.int32)
    pairs = (c[:, 0::2] + 256 * c[:, 1::2]).T.contiguous()
    n = codes_t.shape[0]

    def search(q, k):
        lut = torch.einsum("qd,mkd->qmk", q, cb_t)
        lo, hi = lut[:, 0::2, :], lut[:, 1::2, :]
        tab = (lo[:, :, None, :] + hi[:, :, :, None]).reshape(q.shape[0], M // 2, K_CODE * K_CODE)
        parts = [[] for _ in range(q.shape[0])]
        for s in range(0, n, chunk):
            e = min(s + chunk, n)
            out = torch.zeros(q.shape[0], e - s, device=q.device)
            for m in range(M // 2):
                out += tab[:, m, :].index_select(1, pairs[m, s:e])
            sc = out.cpu().numpy()
            for i in range(q.shape[0]):
                parts[i].append(top_k(sc[i], k, offset=s))
        return np.stack([merge_top_k(p, k)[1] for p in parts])

    return search


def plain_gather_topk(cb_t, codes_t, torch, chunk: int = 10_000_000):
    """The "10 lines" reference: gather every item's score on the device, ``torch.topk``."""
    idx = codes_t.long()

    def search(q, k):
        lut = torch.einsum("qd,mkd->qmk", q, cb_t)
        chunks = ((s, sum(lut[:, m, :][:, idx[s : s + chunk, m]] for m in range(idx.shape[1])))
                  for s in range(0, idx.shape[0], chunk))
        return _running_topk(chunks, k, torch)

    return search


def float_brute(vecs, torch, chunk: int = 10_000_000):
    def search(q, k):
        qq = q.to(vecs.dtype)
        chunks = ((s, (qq @ vecs[s : s + chunk].T).float()) for s in range(0, vecs.shape[0], chunk))
        return _running_topk(chunks, k, torch)

    return search


def _running_topk(chunks, k: int, torch):
    """Rows of the top-k over ``(offset, scores)`` chunks, merged on the device after each chunk
    (the references' own plain merge, independent of the engines being measured)."""
    best_s, best_r = None, None
    for s, sc in chunks:
        v, r = torch.topk(sc, k, dim=1)
        r = r + s
        if best_s is not None:
            v, j = torch.topk(torch.cat([best_s, v], 1), k, dim=1)
            r = torch.cat([best_r, r], 1).gather(1, j)
        best_s, best_r = v, r
    return best_r


# ---------------------------------------------------------------------------- GPU part
def gpu_part(args, log) -> dict:
    import torch

    from crossmedia.engines import AQDEngine
    from crossmedia.engines.torch_scan import TorchAQDEngine
    from crossmedia.engines.shards import ShardedEngine, shard_bounds

    dry = args.gpu_part_on_cpu  # the same code on CPU tensors, tiny sizes: checks the script, measures nothing
    dev = torch.device("cpu" if dry else "cuda:0")
    sync = (lambda: None) if dry else torch.cuda.synchronize
    g = torch.Generator(device=dev)
    if dry:
        info = {"gpu": "none (dry run on CPU tensors)", "gpu_memory_gib": 0, "gpus_visible": 1, "torch": torch.__version__}
    else:
        props = torch.cuda.get_device_properties(dev)
        info = {"gpu": props.name, "gpu_memory_gib": round(props.total_memory / 2**30, 1),
                "gpus_visible": torch.cuda.device_count(), "torch": torch.__version__}
    try:
        import triton

        info["triton"] = triton.__version__
    except ImportError:
        info["triton"] = None
    if dry and os.environ.get("TRITON_INTERPRET") != "1":
        info["triton"] = None
    rows, sweep = [], []
    best_blocks: dict[int, tuple[int, int]] = {}
    cpu_threads = os.cpu_count() or 1

    def add(n, bits, method, sec, nq, top1=None, bytes_item=None, note=""):
        r = {"items": n, "bits": bits, "method": method, "ms_per_query": 1000 * sec / nq, "top1_agree": top1,
             "bytes_per_item": bytes_item, "note": note}
        rows.append(r)
        log(r)

    def agree(a, ref):
        a = a.cpu().numpy() if hasattr(a, "cpu") else np.asarray(a)
        return float(np.mean(np.asarray(a)[:, 0] == ref[:, 0]))

    for n in args.sizes:
        g.manual_seed(args.seed)
        vec_done = False
        for bits in args.bits:
            M = bits // 8
            if not dry:
                torch.cuda.empty_cache()
            cb_np = np.random.default_rng(args.seed + bits).standard_normal((M, K_CODE, DIM)).astype(np.float32)
            cb_t = torch.from_numpy(cb_np).to(dev)
            codes_t = torch.randint(0, 256, (n, M), dtype=torch.uint8, device=dev, generator=g)
            q = torch.randn(args.batch, DIM, device=dev, generator=g)
            q_np = q.cpu().numpy()
            k = args.k
            ref_fn = plain_gather_topk(cb_t, codes_t, torch)
            t, ref = timed(lambda: ref_fn(q, k), sync)
            ref = ref.cpu().numpy()
            add(n, bits, "plain gather + torch.topk (reference)", t, args.batch, 1.0, M)
            if n <= 10_000_000:
                fn = host_topk_engine(cb_t, codes_t, torch)
                t, out = timed(lambda: fn(q, k), sync, warm=False, max_reps=3)
                add(n, bits, "previous AQDEngine torch (host top-k)", t, args.batch, agree(out, ref), M)
                codes_np = codes_t.cpu().numpy()
                eng = AQDEngine(cb_np, codes_np, threads=cpu_threads)
                nq_cpu = min(args.batch, 20)
                t, out = timed(lambda: eng.search(q_np[:nq_cpu], k)[1], lambda: None, min_s=0.0, max_reps=1)
                add(n, bits, f"numpy AQDEngine, {cpu_threads} CPU threads", t, nq_cpu, agree(out, ref[:nq_cpu]), M)
                del eng, codes_np
            for kernel in ("torch", "triton"):
                if kernel == "triton" and info["triton"] is None:
                    continue
                if kernel == "triton" and bits not in best_blocks:  # block sweep at the first size
                    best = None
                    for bq, bn in args.sweep:
                        e = TorchAQDEngine.from_device_codes(cb_np, codes_t, kernel="triton", block_q=bq, block_n=bn)
                        t, out = timed(lambda: e.search_device(q, k), sync, max_reps=10)
                        sweep.append({"items": n, "bits": bits, "block_q": bq, "block_n": bn,
                                      "ms_per_query": 1000 * t / args.batch})
                        log(sweep[-1])
                        if best is None or t < best[0]:
                            best = (t, bq, bn)
                    best_blocks[bits] = best[1:]
                bq, bn = best_blocks.get(bits, (16, 256))
                e = TorchAQDEngine.from_device_codes(cb_np, codes_t, kernel=kernel, block_q=bq, block_n=bn)
                t, out = timed(lambda: e.search_device(q, k), sync)
                name = "fused Triton scan" + (f" (BQ={bq}, BN={bn})" if kernel == "triton" else "") if kernel == "triton" \
                    else "TorchAQDEngine torch (device top-k)"
                add(n, bits, name, t, args.batch, agree(out[1], ref), M)
                del e
            # the sharded index: the items in 2 shards (on the visible GPUs, or twice on cuda:0)
            ndev = 1 if dry else torch.cuda.device_count()
            b = shard_bounds(n, 2)
            kern = "triton" if info["triton"] else "torch"
            bq, bn = best_blocks.get(bits, (16, 256))
            shards = []
            for i in range(2):
                part = codes_t[int(b[i]) : int(b[i + 1])].to("cpu" if dry else f"cuda:{i % ndev}")
                shards.append(TorchAQDEngine.from_device_codes(cb_np, part, kernel=kern, block_q=bq, block_n=bn))
            se = ShardedEngine(shards, [int(b[0]), int(b[1])])
            t, out = timed(lambda: se.search(q_np, k)[1], sync)
            add(n, bits, f"sharded index, 2 shards on {min(2, ndev)} GPU(s), {kern}", t, args.batch, agree(out, ref), M)
            del shards, se
            if not vec_done and n <= 10_000_000:
                vec_done = True
                for dt in (torch.float32, torch.float16):
                    vecs = torch.randn(n, DIM, device=dev, generator=g).to(dt)
                    fn = float_brute(vecs, torch)
                    t, _ = timed(lambda: fn(q, k), sync)
                    add(n, None, f"{str(dt).split('.')[-1]} brute force on GPU", t, args.batch, None,
                        DIM * vecs.element_size())
                    del vecs
            del codes_t, cb_t
    if args.billion and info["triton"]:
        if not dry:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(dev)
        n, M = args.billion_items, 4
        codes_t = torch.empty((n, M), dtype=torch.uint8, device=dev)
        for s in range(0, n, 100_000_000):
            codes_t[s : s + 100_000_000].random_(0, 256, generator=g)
        log({"generated": n, "items": "codes on the device"})
        cb_np = np.random.default_rng(args.seed + 32).standard_normal((M, K_CODE, DIM)).astype(np.float32)
        q = torch.randn(args.batch, DIM, device=dev, generator=g)
        bq, bn = best_blocks.get(32, (16, 256))
        e = TorchAQDEngine.from_device_codes(cb_np, codes_t, kernel="triton", block_q=bq, block_n=bn)
        t, out = timed(lambda: e.search_device(q, args.k), sync, max_reps=5)
        peak = 0 if dry else torch.cuda.max_memory_allocated(dev)
        add(n, 32, f"fused Triton scan (BQ={bq}, BN={bn})", t, args.batch, None, M,
            note=f"peak device memory {peak / 2**30:.2f} GiB (codes {n * M / 2**30:.2f} GiB)")
        info["billion_peak_gib"] = peak / 2**30
        del codes_t, e
    return {"info": info, "rows": rows, "sweep": sweep}


# ---------------------------------------------------------------------------- CPU part
def cpu_part(args, log) -> dict:
    import torch

    from crossmedia.engines import AQDEngine
    from crossmedia.engines.torch_scan import TorchAQDEngine
    from crossmedia.engines.shards import device_engine

    rows = []
    rng = np.random.default_rng(args.seed)
    n = args.cpu_items
    for bits in args.bits:
        M = bits // 8
        cb = rng.standard_normal((M, K_CODE, DIM)).astype(np.float32)
        codes = rng.integers(0, 256, (n, M), dtype=np.uint8)
        q = rng.standard_normal((args.cpu_batch, DIM)).astype(np.float32)
        ref = AQDEngine(cb, codes)
        cb_t, codes_t = torch.from_numpy(cb), torch.from_numpy(codes)
        old = host_topk_engine(cb_t, codes_t, torch)
        dev_eng = TorchAQDEngine(cb, codes, device="cpu", kernel="torch")
        shards = device_engine(codes, "cpu*2", lambda part, dev: TorchAQDEngine(cb, part, device=dev, kernel="torch"))
        rr = ref.search(q, args.k)[1]
        t_ref = None
        for name, fn in (("numpy AQDEngine (1 thread, reference)", lambda: ref.search(q, args.k)[1]),
                         ("previous torch path (host top-k)", lambda: old(torch.from_numpy(q), args.k)),
                         ("TorchAQDEngine torch on CPU (device top-k)", lambda: dev_eng.search(q, args.k)[1]),
                         ("2 CPU shards (torch, device top-k each)", lambda: shards.search(q, args.k)[1])):
            t, out = timed(fn, lambda: None, min_s=0.0, max_reps=3)
            t_ref = t if t_ref is None else t_ref  # the first row is the numpy engine
            r = {"items": n, "bits": bits, "method": name, "ms_per_query": 1000 * t / len(q),
                 "top1_agree": float(np.mean(np.asarray(out)[:, 0] == rr[:, 0])), "vs_numpy": t_ref / t}
            rows.append(r)
            log(r)
    return {"rows": rows}


# ---------------------------------------------------------------------------- report
DONE_WHEN = [
    ("10⁷ items, 32 bits, fused kernel ≤ 0.10 ms/query", 10_000_000, 32, 0.10),
    ("10⁷ items, 64 bits, fused kernel ≤ 0.25 ms/query", 10_000_000, 64, 0.25),
    ("10⁹ items, 32 bits, fused kernel ≤ 2 ms/query", 1_000_000_000, 32, 2.0),
]


def report(meta, gpu, cpu, args) -> str:
    m = meta["machine"]
    L = [f"# Code search on a GPU ({m['cpu']}, {m['cores']} cores)", "",
         f"git {meta['git_commit']}, seed {args.seed}, load average {m['loadavg_at_start']} → {m.get('loadavg_at_end')}, "
         f"top-{args.k}, 128-d, K = 256 per codebook, batches of {args.batch} queries (CPU part: {args.cpu_batch}).", ""]
    if gpu is None:
        L += ["## GPU part: pending", "", f"No CUDA device on this machine ({meta.get('no_gpu_reason')}). The GPU table "
              "(the issue's references, the fused Triton kernel, the device top-k torch path, the sharded index, "
              "10⁹ items) is produced by running this script unattended on a GPU machine:", "",
              "    PYTHONPATH=src python benchmarks/bench_search_gpu.py", "",
              "Done-when targets, all **unmeasured** here:", ""]
        L += [f"- {name}: pending" for name, *_ in DONE_WHEN]
        L.append("")
    else:
        info = gpu["info"]
        L += [f"## GPU part ({info['gpu']}, {info['gpu_memory_gib']} GiB, {info['gpus_visible']} visible; torch "
              f"{info['torch']}, Triton {info['triton']})", "",
              "ms per query (batch time / batch size); top-1 = fraction of queries whose best row equals the plain "
              "gather reference's.", "", "| items | bits | method | ms/query | top-1 | B/item | note |",
              "|---|---|---|---|---|---|---|"]
        for r in gpu["rows"]:
            t1 = "—" if r["top1_agree"] is None else f"{r['top1_agree']:.2f}"
            L.append(f"| {r['items']:,} | {r['bits'] or '—'} | {r['method']} | {r['ms_per_query']:.4f} | {t1} | "
                     f"{r['bytes_per_item']} | {r['note']} |")
        L += ["", "Done when:", ""]
        for name, n, bits, limit in DONE_WHEN:
            got = [r for r in gpu["rows"] if r["items"] == n and r["bits"] == bits and r["method"].startswith("fused")]
            if not got:
                L.append(f"- {name}: not measured in this run")
            else:
                v = got[0]["ms_per_query"]
                L.append(f"- {name}: {v:.4f} ms/query → {'met' if v <= limit else 'NOT met'}")
        for n in sorted({r["items"] for r in gpu["rows"]}):
            for bits in (32, 64):
                ref = [r for r in gpu["rows"] if r["items"] == n and r["bits"] == bits and r["method"].startswith("plain")]
                new = [r for r in gpu["rows"] if r["items"] == n and r["bits"] == bits and r["method"].startswith("fused")]
                f16 = [r for r in gpu["rows"] if r["items"] == n and r["method"].startswith("float16")]
                if ref and new:
                    s = f"- {n:,} items, {bits} bits: fused kernel {ref[0]['ms_per_query'] / new[0]['ms_per_query']:.1f}× the plain gather"
                    if f16:
                        s += f", {f16[0]['ms_per_query'] / new[0]['ms_per_query']:.2f}× float16 brute force"
                    L.append(s)
        if gpu["sweep"]:
            L += ["", "Kernel block sweep (ms/query): " + ", ".join(
                f"{s['bits']} bits BQ={s['block_q']} BN={s['block_n']}: {s['ms_per_query']:.4f}" for s in gpu["sweep"])]
        L.append("")
    L += [f"## CPU part ({m['cores']} cores, torch threads {args.threads})", "",
          f"{args.cpu_items:,} random codes, ms per query over a batch of {args.cpu_batch} queries; speed vs the numpy "
          "engine measured in the same process.", "", "| items | bits | method | ms/query | top-1 vs numpy | speed vs numpy |",
          "|---|---|---|---|---|---|"]
    for r in cpu["rows"]:
        L.append(f"| {r['items']:,} | {r['bits']} | {r['method']} | {r['ms_per_query']:.3f} | {r['top1_agree']:.2f} | "
                 f"{r['vs_numpy']:.2f}× |")
    L.append("")
    return "\n".join(L)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1e6,1e7,5e7")
    ap.add_argument("--bits", default="32,64")
    ap.add_argument("--billion", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--billion-items", type=int, default=1_000_000_000, help=argparse.SUPPRESS)
    ap.add_argument("--sweep", default="8x128,16x128,16x256,32x256,16x512,32x512",
                    help="fused-kernel blocks BQxBN tried at the first size")
    ap.add_argument("--gpu-part-on-cpu", action="store_true",
                    help="run the GPU part on CPU tensors (tiny --sizes; TRITON_INTERPRET=1 for the kernel): a check "
                         "of the script, not a measurement; never write it to benchmarks/results")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--cpu-items", type=int, default=1_000_000)
    ap.add_argument("--cpu-batch", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for the CPU part")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-cpu", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/search_gpu")
    args = ap.parse_args()
    args.sizes = [int(float(x)) for x in args.sizes.split(",") if x]
    args.bits = [int(x) for x in args.bits.split(",")]
    args.sweep = [tuple(int(v) for v in x.split("x")) for x in args.sweep.split(",") if x]
    if any(b not in (32, 64) for b in args.bits) or any(not 1 <= n <= 10**9 for n in args.sizes) or \
            not 1 <= args.billion_items <= 4 * 10**9:
        raise SystemExit("error: --bits 32,64 and --sizes in 1..1e9 expected")
    if not (1 <= args.batch <= 10_000 and 1 <= args.k <= 256 and 1 <= args.cpu_items <= 10**8):
        raise SystemExit("error: --batch 1..10000, --k 1..256, --cpu-items 1..1e8 expected")
    import torch

    torch.set_num_threads(args.threads)
    from crossmedia.io import write_json, write_text
    from crossmedia.seed import git_commit, machine_info

    meta = {"benchmark": "search_gpu", "git_commit": git_commit(), "machine": machine_info(),
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    t0 = time.time()

    def log(x):
        print(f"[{time.time() - t0:6.1f} s] {json.dumps(x)}", flush=True)

    gpu = None
    if torch.cuda.is_available() or args.gpu_part_on_cpu:
        gpu = gpu_part(args, log)
    else:
        meta["no_gpu_reason"] = f"torch {torch.__version__}: torch.cuda.is_available() is False"
    cpu = {"rows": []} if args.skip_cpu else cpu_part(args, log)
    meta["machine"]["loadavg_at_end"] = list(os.getloadavg())
    meta["seconds"] = round(time.time() - t0, 1)
    write_json(output_path(args.out, ".json"), {**meta, "gpu": gpu, "cpu": cpu})
    text = report(meta, gpu, cpu, args)
    write_text(output_path(args.out, ".md"), text)
    print(text)


if __name__ == "__main__":
    main()
