"""Benchmark: the search service under load — ``crossmedia serve`` on loopback over an index of
10⁵ items, N = 1, 10, 100 concurrent clients (keep-alive HTTP/1.1 connections, one request in
flight each), a bounded number of requests per level. Reported per level: requests/s, p50/p99
latency (ms, client side, from sending to the full body), and the error count (anything but a
200, or a transport error). Reference measured in the same run: the same queries through
``Index.search_text`` / ``Index.search_image`` in-process, one after another (no HTTP), so the
service's figures are also given as ratios to it.

The index: CMSL (32 bits = 4 codebooks × K=256, the small test-sized network) trained on the
synthetic scenes; its ``--base`` items (default 1000) are encoded for real, then their rows
(codes of both modalities, rerank regions, tokens) are tiled with fresh ids to ``--items``
(default 10⁵) and written through the index format (``crossmedia.search.format``) with the same
model — training and encoding 10⁵ scenes on this machine would take far longer, and the scan
cost does not depend on the code values. The thumbnails of the copies are their originals'.

Server and load generator run on the same machine (the client, a minimal asyncio HTTP/1.1
client in this process, competes for the CPU), the server with one uvicorn worker and torch threads = 1 unless
``--workers``/``--threads`` say otherwise, default :class:`crossmedia.serve.Limits`.

    PYTHONPATH=src python benchmarks/bench_serve.py [--items 100000] [--clients 1,10,100]
        [--requests 300,1500,3000] [--workers 1] [--threads 1] [--work DIR] [--out benchmarks/results/serve]
        [--device cuda] [--batch-wait-ms 2]   # the index on the GPU, concurrent searches micro-batched
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from crossmedia.bench.report import output_path  # noqa: E402

SMALL_CMSL = ["model.name=cmsl", "model.bits=32", "model.K=256", "model.global_dim=16",
              "model.cnn_channels=[8, 16, 16, 16]", "model.image_hidden=32", "model.text_hidden=32",
              "model.graph.dim=16", "model.graph.walks_per_node=2", "model.graph.walk_length=10", "model.graph.knn=3",
              "model.graph.epochs=1", "model.local.dim=16", "model.local.out_dim=8", "model.quant.kmeans_iters=5",
              "train.batch_size=64", "train.epochs=3", "train.val_every=0", "train.threads=1", "train.seed=0"]


def machine() -> dict:
    from crossmedia.seed import machine_info

    return machine_info()


# ---------------------------------------------------------------------------- the index
def build_index(work: Path, n_items: int, n_base: int, seed: int) -> Path:
    """A trained small CMSL's index of ``n_base`` real items tiled to ``n_items`` (cached in ``work``)."""
    from crossmedia.config import resolve_config
    from crossmedia.data.make_synth import make_synthetic_dataset
    from crossmedia.search import Index
    from crossmedia.search.format import write_index_dir
    from crossmedia.train import train

    out = work / f"index-{n_items}"
    if (out / "CURRENT").is_file():
        return out
    data, run, base = work / "data", work / "run", work / "index-base"
    if not (data / "dataset.json").is_file():
        make_synthetic_dataset(data, n=n_base, seed=seed, image_size=24, overwrite=True)
    if not (run / "checkpoints").exists():
        train(resolve_config(None, SMALL_CMSL, data__root=str(data)), run)
    ix = Index.build(run, data, base, split="all", overwrite=True)
    reps = -(-n_items // len(ix))
    rows = np.tile(np.arange(len(ix)), reps)[:n_items]
    arrays = {}
    for key, arr in ix.arrays.items():
        arr = np.asarray(arr)
        arrays[key] = arr[rows] if key in ("image_db", "text_db", "regions", "tokens") else arr
    items = [{**ix.items[r], "id": f"{ix.items[r]['id']}-{i // len(ix):03d}"} for i, r in enumerate(rows)]
    man = {k: v for k, v in ix.manifest.items() if k != "files"}
    man["counts"] = {"items": len(items), **{k: list(v.shape) for k, v in sorted(arrays.items())}}
    man["synthetic_tiling"] = {"base_items": len(ix), "items": n_items,
                               "note": "rows of the base index repeated with fresh ids (benchmark only)"}
    write_index_dir(out, man, arrays, items, model_file=ix.files / "model.pt", overwrite=True)
    return out


# ---------------------------------------------------------------------------- the server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(index: Path, workers: int, threads: int, extra: tuple = ()):
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), CROSSMEDIA_NO_PROGRESS="1", OMP_NUM_THREADS=str(threads))
    proc = subprocess.Popen([sys.executable, "-c", "from crossmedia.cli.main import entry; entry()", "serve", str(index),
                             "--port", str(port), "--workers", str(workers), "--threads", str(threads),
                             "--log-level", "warning", *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    import urllib.request

    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited {proc.returncode}: {proc.stdout.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                if r.status == 200:
                    return proc, url, json.loads(r.read())
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("server did not start in 180 s")


# ---------------------------------------------------------------------------- the load
def _request_bytes(port: int, kind: str, payload) -> bytes:
    """One complete HTTP/1.1 keep-alive request, prebuilt (the load generator only writes bytes)."""
    if kind == "text":
        body = json.dumps({"query": payload, "k": 10}).encode()
        ctype, path = "application/json", "/api/search/text"
    else:
        b = "crossmedia-bench-boundary"
        body = (f"--{b}\r\nContent-Disposition: form-data; name=\"k\"\r\n\r\n10\r\n"
                f"--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"q.png\"\r\n"
                "Content-Type: image/png\r\n\r\n").encode() + payload + f"\r\n--{b}--\r\n".encode()
        ctype, path = f"multipart/form-data; boundary={b}", "/api/search/image"
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n")
    return head.encode() + body


async def _exchange(reader, writer, req: bytes) -> tuple[int, bytes]:
    writer.write(req)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next(int(line.split(":", 1)[1]) for line in lines[1:] if line.lower().startswith("content-length:"))
    return status, await reader.readexactly(length)


async def run_level(url: str, kind: str, payloads: list, n_clients: int, n_requests: int) -> dict:
    """``n_clients`` keep-alive connections, each sending its next request when the previous
    answer is in, until ``n_requests`` are done. A minimal asyncio HTTP/1.1 client (prebuilt
    requests, Content-Length framing) so that the load generator costs little CPU next to the
    server on the same machine."""
    port = int(url.rsplit(":", 1)[1])
    reqs = [_request_bytes(port, kind, p) for p in payloads]
    lat: list[float] = []
    errors: Counter = Counter()
    nxt = iter(range(n_requests))

    async def client(warm: int):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
        try:
            for i in range(warm):
                await _exchange(reader, writer, reqs[i % len(reqs)])
            await start.wait()
            for i in nxt:
                t0 = time.perf_counter()
                try:
                    status, body = await _exchange(reader, writer, reqs[i % len(reqs)])
                    if status != 200:
                        errors[str(status)] += 1
                    elif len(json.loads(body)["hits"]) != 10:
                        errors["short"] += 1
                except Exception as e:  # noqa: BLE001 — every failure counts as an error
                    errors[type(e).__name__] += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
                lat.append(time.perf_counter() - t0)
        finally:
            writer.close()

    start = asyncio.Event()
    tasks = [asyncio.create_task(client(2 if w < 10 else 0)) for w in range(n_clients)]  # connect + warm up
    await asyncio.sleep(0.5 + 0.02 * n_clients)
    t0 = time.perf_counter()
    start.set()
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - t0
    ms = np.asarray(lat) * 1000
    return {"kind": kind, "clients": n_clients, "requests": n_requests, "wall_s": round(wall, 3),
            "rps": round(n_requests / wall, 2), "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2), "max_ms": round(float(ms.max()), 2),
            "errors": int(sum(errors.values())), "error_kinds": dict(errors)}


def reference(index: Path, kind: str, payloads: list, n: int) -> dict:
    """The same queries in-process, one after another, no HTTP."""
    import torch
    from PIL import Image

    from crossmedia.search import Index

    torch.set_num_threads(1)
    ix = Index.load(index, verify=False)
    ix.model
    ix.engine("image"), ix.engine("text")
    lat = []
    for i in range(n + 20):
        p = payloads[i % len(payloads)]
        t0 = time.perf_counter()
        if kind == "text":
            ix.search_text(p, k=10)
        else:
            ix.search_image(Image.open(io.BytesIO(p)), k=10)
        if i >= 20:
            lat.append(time.perf_counter() - t0)
    ms = np.asarray(lat) * 1000
    return {"kind": kind, "requests": n, "qps": round(float(n / (ms.sum() / 1000)), 2),
            "p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2)}


def make_payloads(index: Path, seed: int, n: int = 500):
    from crossmedia.search import Index

    ix = Index.load(index, verify=False)
    rng = np.random.default_rng(seed)
    vocab = [w for w in ix.model.info.vocab[2:] if w.isalpha()]
    texts = [" ".join(rng.choice(vocab, size=int(rng.integers(1, 4)), replace=False)) for _ in range(n)]
    images = []
    for r in rng.choice(len(ix), size=min(n, 200), replace=False):
        images.append(Path(ix.items[int(r)]["image"]).read_bytes())
    return texts, images


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--base", type=int, default=1000)
    ap.add_argument("--clients", default="1,10,100")
    ap.add_argument("--requests", default="300,1500,3000", help="requests per level (text); image: half")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="serve --device (cuda: the index scans on the GPU)")
    ap.add_argument("--batch-wait-ms", type=float, default=None, help="serve --batch-wait-ms (micro-batching)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=Path("/tmp/crossmedia-bench-serve"))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/serve")
    args = ap.parse_args()
    os.environ.setdefault("CROSSMEDIA_NO_PROGRESS", "1")
    import torch

    torch.set_num_threads(1)
    from crossmedia.io import write_json, write_text
    from crossmedia.seed import git_commit

    clients = [int(x) for x in args.clients.split(",")]
    counts = [int(x) for x in args.requests.split(",")]
    if len(counts) != len(clients):
        raise SystemExit("--requests needs one count per --clients level")
    meta = {"benchmark": "serve", "git_commit": git_commit(), "machine": machine(), "args": vars(args) | {
        "work": str(args.work), "out": str(args.out)}, "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    t0 = time.time()
    args.work.mkdir(parents=True, exist_ok=True)
    index = build_index(args.work, args.items, args.base, args.seed)
    print(f"index {index} ready ({time.time() - t0:.0f} s)", flush=True)
    texts, images = make_payloads(index, args.seed)
    refs = [reference(index, "text", texts, 300), reference(index, "image", images, 150)]
    for r in refs:
        print("reference", r, flush=True)
    extra = ("--device", args.device) + (() if args.batch_wait_ms is None else ("--batch-wait-ms", str(args.batch_wait_ms)))
    proc, url, health = start_server(index, args.workers, args.threads, extra)
    rows = []
    try:
        for kind, payloads in (("text", texts), ("image", images)):
            for n_clients, n_req in zip(clients, counts):
                n_req = n_req if kind == "text" else max(n_clients, n_req // 2)
                row = asyncio.run(run_level(url, kind, payloads, n_clients, n_req))
                ref = next(r for r in refs if r["kind"] == kind)
                row["rps_vs_inprocess"] = round(float(row["rps"] / ref["qps"]), 3)
                rows.append(row)
                print(row, flush=True)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    meta["machine"]["loadavg_at_end"] = list(os.getloadavg())
    meta["server"] = {"workers": args.workers, "torch_threads": args.threads, "limits": health["limits"],
                      "device": health.get("device"), "batches": health.get("batches"),
                      "items": health["items"], "model": health["model"], "code_kind": health["code_kind"]}
    write_json(output_path(args.out, ".json"), {**meta, "reference_inprocess": refs, "levels": rows})
    lines = [f"# Search service under load ({meta['machine']['cpu']}, {meta['machine']['cores']} cores, shared)", "",
             f"git {meta['git_commit']}, seed {args.seed}, load average {meta['machine']['loadavg_at_start']} → "
             f"{meta['machine']['loadavg_at_end']}", "",
             f"`crossmedia serve` on loopback, {health['items']:,} items ({health['model']}, {health['code_kind']} codes, "
             f"{args.base} real items tiled), {args.workers} uvicorn worker(s), torch threads {args.threads}, "
             f"default limits (max_concurrent {health['limits']['max_concurrent']}, max_queued "
             f"{health['limits']['max_queued']}); client: minimal asyncio HTTP/1.1 on the same machine, keep-alive, k = 10. "
             "Reference: the same queries in-process, sequential, no HTTP.", "",
             "| query | clients | requests | req/s | p50 ms | p99 ms | errors | req/s vs in-process |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['kind']} | {r['clients']} | {r['requests']} | {r['rps']:.1f} | {r['p50_ms']:.1f} | "
                     f"{r['p99_ms']:.1f} | {r['errors']} | {r['rps_vs_inprocess']:.2f}× |")
    lines += ["", "In-process reference (one query at a time):", ""]
    for r in refs:
        lines.append(f"- {r['kind']}: {r['qps']:.1f} q/s, p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms")
    write_text(output_path(args.out, ".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
