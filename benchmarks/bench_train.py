"""Benchmark: training throughput — the training loop vs the model's own forward+backward on
preloaded tensors (so input-pipeline stalls show), peak memory, 1 vs 2 data-parallel processes,
and the in-RAM vs streaming data path.

Data: embedded synthetic scenes (``crossmedia data synth``, seeded; pixels, 72×72), generated once
into ``--cache``. Every measurement runs in its own process (peak RSS = that process's
``ru_maxrss``; on CUDA also ``torch.cuda.max_memory_allocated``).

Part 1, per model (``--models``) on ``--n`` scenes (training split = half), ``--epochs`` epochs,
``train.val_every=0``; the figure is the **last** epoch (the first one warms up):

* ``loop``     — ``crossmedia.train.train`` (batches built by the data path, ``on_epoch_start``,
  the step, the optimizer), samples/s = training items / epoch time;
* ``fwd+bwd``  — the same model, the same ``on_epoch_start`` and steps, but every batch prepared on
  the device beforehand (no input pipeline), samples/s likewise;
* ``loop/fwd+bwd`` — the ratio (1.0 = the input pipeline costs nothing);
* ``2 proc``   — the loop under ``torchrun --nproc-per-node 2`` (gloo on CPU, NCCL on CUDA; same
  global batch), samples/s of the whole job, and its ratio to 1 process.

Part 2, data path (``--datapath-model``, default twotower; pixels): ``data.loader=stream`` (with ``--workers`` DataLoader
workers) at each of ``--rss-sizes`` scenes, and ``data.loader=memory`` at each of
``--memory-sizes``: peak RSS and samples/s, and each stream row's samples/s as a ratio to the
in-RAM row at the first memory size and to the in-RAM row at its own size (when measured).
Every row: the same model config, full batches only (``train.drop_last``), the same per-epoch
work (twotower's B-step); ``--max-steps`` caps the batches per epoch (``train.max_steps``, the
first batches of the same seeded order at a given size) so that large sizes finish, and
samples/s counts the timed epoch's items. twotower pairs every batch with the stored outputs of
all N training items (DCMH's likelihood, batch × N terms), so its step costs more on a larger
training split whatever the data path: the ratio at the same size is the data path's own cost.

Part 3, CMSL preprocessing (``--prep-sizes``, training items; features mode): the correlation
graph and random walks (``model.graph`` defaults, empty cache) — and, at ``--prep-embedding-sizes``
/ ``--prep-skipgram-sizes``, the walk embeddings too, by ``graph.embedding=svd`` (the default) /
``skipgram`` (gensim), side by side on the same graph and walks — against one training
epoch at the same size (the last of ``--prep-epochs``, its codebook step included), extrapolated
to a 10-epoch training: ratio = preprocessing / (preprocessing + 10 × epoch). The data: the
scenes' tags and labels (the synthetic generator without pictures) and 128-d "global features"
= a fixed random projection of the labels plus noise, seeded — the graph's cost depends on the
item count, the vocabulary and the feature width, not on what the features mean.

    PYTHONPATH=src python benchmarks/bench_train.py [--device auto] [--n 2000] [--epochs 2]
        [--models twotower,cmsl,dafsn] [--rss-sizes 2000,50000] [--memory-sizes 2000,50000]
        [--max-steps N] [--repeats 1] [--workers 2] [--prep-sizes 10000,100000] [--prep-embedding-sizes 10000,100000]
        [--prep-skipgram-sizes 10000] [--cache DIR]

Unattended on a one-GPU machine (``--device auto`` picks CUDA when present) the defaults take
about 5–8 minutes; results go to ``benchmarks/results/train_<device>.md`` / ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: small, fast configs (the shapes the contract tests use, a little wider)
MODEL_SETS = {
    "twotower": ["model.bits=32", "model.cnn_channels=[16,32,64,128]"],
    "dcmh": ["model.bits=32", "model.cnn_channels=[16,32,64,128]"],
    "cmsl": ["model.graph.walks_per_node=4", "model.graph.walk_length=20", "model.graph.epochs=1"],
    "dafsn": ["model.text.embed_dim=64", "model.text.hidden=64"],
    "acmr": [], "dscmr": [],
}


def _peak() -> dict:
    import torch

    out = {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["gpu_peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def worker(spec: dict) -> None:
    import torch

    from crossmedia.config import resolve_config

    torch.set_num_threads(int(spec["threads"]))
    cfg = resolve_config(None, spec["overrides"], data__root=spec["data"], model__name=spec["model"])
    rank = int(os.environ.get("RANK", "0"))
    if spec["mode"] == "loop":
        from crossmedia.train import train

        run = train(cfg, spec["out"], overwrite=True)
        if rank != 0:
            return
        log = run.read_log()
        samples = log[-1].get("samples", spec["n_train"])
        res = {"samples_s": samples / log[-1]["time_s"], "epoch_s": log[-1]["time_s"], "samples": samples,
               "per_epoch_step_s": log[-1].get("quant_step_s", 0.0)}
    elif spec["mode"] == "prep":  # CMSL's preprocessing alone (graph, walks, skip-gram; empty cache)
        from crossmedia.data.loading import load_run_data
        from crossmedia.models import TrainContext
        from crossmedia.train import build_model

        dev = torch.device(cfg["train"]["device"])
        rd = load_run_data(cfg["data"])
        model = build_model(cfg, rd).to(dev)
        idx = torch.as_tensor(rd.protocol["train"], dtype=torch.long)
        t0 = time.perf_counter()
        model.setup_training(TrainContext(run_data=rd, train_idx=idx, device=dev, config=cfg))
        gi = model.graph_info
        res = {"setup_s": round(time.perf_counter() - t0, 3), "n_train": len(idx),
               **{k: gi.get(k) for k in ("graph_build_s", "graph_walks_s", "graph_embedding_s", "graph_setup_s",
                                         "graph_cache_hit", "walk_tokens")}}
    else:  # fwd+bwd on preloaded device tensors
        from crossmedia.data.loading import load_run_data
        from crossmedia.models import TrainContext
        from crossmedia.seed import seed_everything
        from crossmedia.train import build_model

        tc = cfg["train"]
        seed_everything(int(tc["seed"]))
        dev = torch.device(tc["device"])
        rd = load_run_data(cfg["data"])
        model = build_model(cfg, rd).to(dev)
        idx = torch.as_tensor(rd.protocol["train"], dtype=torch.long)
        ctx = TrainContext(run_data=rd, train_idx=idx, device=dev, config=cfg)
        model.setup_training(ctx)
        opt = model.configure_optimizer(lr=float(tc["lr"]), weight_decay=float(tc["weight_decay"]))
        bs = int(tc["batch_size"])
        perm = torch.randperm(len(idx), generator=torch.Generator().manual_seed(0))
        batches = []
        for pos in perm.split(bs):
            b = rd.tensors.batch(idx[pos], dev)
            b["pos"] = pos.to(dev)
            batches.append(b)
        epochs, t = int(tc["epochs"]), 0.0
        model.train()
        for epoch in range(epochs):
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            model.on_epoch_start(epoch, ctx)
            for step, b in enumerate(batches):
                out = model.training_step(b, epoch, (epoch + step / len(batches)) / epochs)
                opt.zero_grad(set_to_none=True)
                out["loss"].backward()
                opt.step()
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter() - t0
        res = {"samples_s": len(idx) / t, "epoch_s": t}
    res.update(_peak())
    print("RESULT " + json.dumps(res), flush=True)


def features_data(root: Path, n_train: int, seed: int = 0, dim: int = 128) -> str:
    """A features-mode dataset of 2·n_train items (half of them the training split): the synthetic
    scenes' tags and labels (no pictures drawn) and label-projection + noise "global features"."""
    import numpy as np

    from crossmedia.data import Dataset, Protocol
    from crossmedia.data import synth

    if (root / "dataset.json").is_file():
        return str(root)
    n = 2 * n_train
    tmp = root.with_name(root.name + ".tmp")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    (tmp / "features").mkdir(parents=True)
    items, labels = [], np.zeros((n, len(synth.LABEL_NAMES)), np.float32)
    for i in range(n):
        rng = np.random.default_rng(np.random.SeedSequence([seed, i]))
        objects = synth.sample_objects(rng)
        tags, _ = synth.make_tags(objects, rng)
        lab = sorted({synth.label_index(o.colour, o.shape) for o in objects})
        labels[i, lab] = 1
        items.append({"id": f"f{i:07d}", "feature_row": i, "tags": tags, "labels": lab})
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((labels.shape[1], dim)).astype(np.float32)
    feats = labels @ w + 0.5 * rng.standard_normal((n, dim)).astype(np.float32)
    np.save(tmp / "features" / "global.npy", feats.astype(np.float32))
    ds = Dataset(name="feature-scenes", items=items, label_names=list(synth.LABEL_NAMES),
                 meta={"features": {"global": "features/global.npy"}, "text_fields": ["tags"],
                       "default_protocol": "default",
                       "description": "benchmark data: synthetic scene tags/labels, label-projection features"})
    ds.save(tmp)
    ds.save_protocol(Protocol.random(n, seed=seed, name="default", dataset=ds.name, labels=ds.labels,
                                     n_query=n // 10, n_train=n_train, n_val=n // 20))
    tmp.rename(root)
    return str(root)


def median_run(runs: list[dict]) -> dict:
    """One row from repeated measurements: the run with the median samples/s (the lower middle one
    of an even count), every run's samples/s, and the largest peak RSS; an error when none succeeded."""
    ok = sorted((r for r in runs if "error" not in r), key=lambda r: r["samples_s"])
    if not ok:
        return runs[-1]
    row = dict(ok[(len(ok) - 1) // 2])
    row["samples_s_runs"] = [round(r["samples_s"], 1) for r in runs if "error" not in r]
    row["peak_rss_mb"] = max(r["peak_rss_mb"] for r in ok)
    if len(ok) < len(runs):
        row["failed_runs"] = len(runs) - len(ok)
    return row


def measure(spec: dict, nproc: int = 1, timeout: int = 1800) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "CROSSMEDIA_NO_PROGRESS": "1",
           "OMP_NUM_THREADS": str(spec["threads"]), **spec.get("env", {})}
    me = [str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", *me]
    else:
        cmd = [sys.executable, *me]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if p.returncode != 0 or not lines:
        return {"error": (p.stderr.strip().splitlines() or ["failed"])[-1][:200]}
    res = json.loads(lines[-1][7:])
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--device", default="auto", help="cpu, cuda or auto (cuda when present)")
    ap.add_argument("--n", type=int, default=2000, help="scenes for part 1")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--models", default="twotower,cmsl,dafsn")
    ap.add_argument("--datapath-model", default="twotower",
                    help="part 2's model (pixels): twotower (its step grows with N, DCMH's likelihood over all "
                         "stored outputs) or a batch-only model such as dscmr or acmr")
    ap.add_argument("--nproc", default="1,2", help="process counts of the loop measurement")
    ap.add_argument("--rss-sizes", default="2000,50000", help="scenes for part 2 (empty: skip)")
    ap.add_argument("--memory-sizes", default="2000,50000",
                    help="scenes at which part 2 also runs the in-RAM path (the first: the reference of every stream "
                         "row; a stream size listed here also gets the same-size ratio)")
    ap.add_argument("--max-steps", type=int, default=None, help="part 2: at most this many batches per epoch")
    ap.add_argument("--repeats", type=int, default=1,
                    help="part 2: measure every row this many times, the rows in rotation; the median run is reported")
    ap.add_argument("--prep-sizes", default="10000,100000", help="training items for part 3 (empty: skip)")
    ap.add_argument("--prep-epochs", type=int, default=2, help="part 3: epochs of the training run (last one timed)")
    ap.add_argument("--prep-embedding-sizes", default="10000,100000",
                    help="part 3: sizes also measured with the walk embeddings computed by the default "
                         "graph.embedding=svd (model.expansion.score=embedding)")
    ap.add_argument("--prep-skipgram-sizes", default="10000",
                    help="part 3: sizes also measured with the embeddings by graph.embedding=skipgram (gensim)")
    ap.add_argument("--prep-max-steps", type=int, default=None,
                    help="part 3: at most this many batches per epoch; the full epoch is then extrapolated")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers of the streaming path")
    ap.add_argument("--threads", type=int, default=None, help="torch threads per process (default: cores / nproc)")
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "crossmedia-bench-train"))
    ap.add_argument("--out", default=None, help="results stem (default benchmarks/results/train_<device>)")
    a = ap.parse_args()
    if a.worker:
        return worker(json.loads(a.worker))

    import torch

    sys.path.insert(0, str(ROOT / "src"))
    from crossmedia.bench.report import output_path
    from crossmedia.data import Dataset
    from crossmedia.data.make_synth import ensure_synthetic_dataset
    from crossmedia.seed import git_commit

    dev = "cuda" if a.device == "auto" and torch.cuda.is_available() else ("cpu" if a.device == "auto" else a.device)
    cores = os.cpu_count() or 1
    threads = a.threads or max(1, cores // 2)
    out = Path(a.out or HERE / "results" / f"train_{dev}")
    cache = Path(a.cache)
    load0 = os.getloadavg()
    started = time.time()

    def data(n):
        root = cache / f"scenes{n}"
        ensure_synthetic_dataset(root, n=n, seed=0, echo=lambda m: print(m, flush=True))
        return str(root), len(Dataset.load(root, check_files=False).protocol()["train"])

    common = [f"train.epochs={a.epochs}", f"train.batch_size={a.batch_size}", "train.val_every=0",
              f"train.device={dev}"]
    part1 = []
    root, n_train = data(a.n)
    for m in [x for x in a.models.split(",") if x]:
        ov = [*common, *MODEL_SETS.get(m, [])]
        spec = {"model": m, "data": root, "overrides": ov, "threads": threads, "n_train": n_train,
                "out": str(cache / "runs" / m)}
        row = {"model": m, "fwd+bwd": measure({**spec, "mode": "fwdbwd"})}
        for k in [int(x) for x in a.nproc.split(",") if x]:
            row[f"loop_{k}"] = measure({**spec, "mode": "loop", "threads": max(1, threads if k == 1 else cores // k)},
                                       nproc=k)
        part1.append(row)
        print(json.dumps(row), flush=True)
    part2 = []
    mem_sizes = [int(x) for x in a.memory_sizes.split(",") if x]
    rss_sizes = [int(x) for x in a.rss_sizes.split(",") if x]
    plan = [(n, loader) for n in sorted(set(rss_sizes) | set(mem_sizes))
            for loader in (["memory"] if n in mem_sizes else []) + (["stream"] if n in rss_sizes else [])]
    runs: dict = {key: [] for key in plan}
    for rep in range(a.repeats):  # the rows in rotation, so that a change of the machine's load hits them alike
        for n, loader in plan:
            r, nt = data(n)
            ov = [*common, "model.bits=32", "train.drop_last=true", f"data.loader={loader}",
                  f"data.workers={a.workers if loader == 'stream' else 0}"]
            if a.max_steps:
                ov.append(f"train.max_steps={a.max_steps}")
            res = measure({"model": a.datapath_model, "data": r, "overrides": ov, "threads": threads, "n_train": nt,
                           "out": str(cache / "runs" / f"rss_{loader}_{n}"), "mode": "loop"})
            runs[(n, loader)].append({"n_train": nt, **res})
            print(json.dumps({"n": n, "loader": loader, "repeat": rep + 1, **res}), flush=True)
    for (n, loader), rs in runs.items():
        part2.append({"n": n, "loader": loader, **median_run(rs)})
    part3 = []

    def prep_spec(nt: int, *extra: str) -> dict:
        """CMSL on the features data of ``nt`` training items, with an empty graph cache of its own
        (so the preprocessing runs)."""
        ov = [f"train.device={dev}", f"train.batch_size={a.batch_size}", "train.val_every=0",
              f"train.epochs={a.prep_epochs}", "data.image_source=features", *extra]
        return {"model": "cmsl", "data": features_data(cache / f"features{nt}", nt), "overrides": ov,
                "threads": threads, "n_train": nt, "out": str(cache / "runs" / f"prep_{nt}"),
                "env": {"CROSSMEDIA_CACHE_DIR": tempfile.mkdtemp(prefix="graph-cache-", dir=cache)}}

    for nt in [int(x) for x in a.prep_sizes.split(",") if x]:
        spec = prep_spec(nt)
        prep = measure({**spec, "mode": "prep"})
        lspec = spec if not a.prep_max_steps else {**spec, "overrides": [*spec["overrides"],
                                                                         f"train.max_steps={a.prep_max_steps}"]}
        loop = measure({**lspec, "mode": "loop"})  # same cache: the preprocessing is reused, not timed again
        row = {"n_train": nt, "prep": prep, "epoch": loop}
        if "error" not in prep and "error" not in loop:
            pre, ep = prep["graph_setup_s"], loop["epoch_s"]
            full = -(-nt // a.batch_size)
            if loop["samples"] < nt:  # a capped epoch: the steps scaled to the full epoch, the per-epoch step once
                once = loop.get("per_epoch_step_s") or 0.0
                ep = once + (ep - once) * full / -(-loop["samples"] // a.batch_size)
                row["epoch_extrapolated_s"] = round(ep, 2)
            row["ratio_10_epochs"] = round(pre / (pre + 10 * ep), 4)
        part3.append(row)
        print(json.dumps(row), flush=True)

    variants = [("svd", a.prep_embedding_sizes), ("skipgram", a.prep_skipgram_sizes)]
    for method, sizes in variants:
        for row in [r for r in part3 if "variant" not in r and str(r["n_train"]) in sizes.split(",")]:
            nt, loop = row["n_train"], row["epoch"]
            # the same data with the walk embeddings computed (as with the local branch or
            # embedding-scored expansion); its epoch is the default row's (they change only the
            # preprocessing)
            sg = prep_spec(nt, "model.expansion.score=embedding", f"model.graph.embedding={method}")
            prep_sg = measure({**sg, "mode": "prep"})
            row_sg = {"n_train": nt, "variant": f"walk embeddings by {method} (model.expansion.score=embedding, "
                      f"model.graph.embedding={method})", "prep": prep_sg, "epoch": loop}
            if "epoch_extrapolated_s" in row:
                row_sg["epoch_extrapolated_s"] = row["epoch_extrapolated_s"]
            if "error" not in prep_sg and "error" not in loop:
                ep = row.get("epoch_extrapolated_s", loop["epoch_s"])
                row_sg["ratio_10_epochs"] = round(prep_sg["graph_setup_s"] / (prep_sg["graph_setup_s"] + 10 * ep), 4)
            part3.append(row_sg)
            print(json.dumps(row_sg), flush=True)
    meta = {"device": dev, "gpu": torch.cuda.get_device_name(0) if dev == "cuda" else None,
            "cpu_cores": cores, "threads_per_process": threads, "load_avg_before": [round(x, 2) for x in load0],
            "load_avg_after": [round(x, 2) for x in os.getloadavg()], "git_commit": git_commit(),
            "python": platform.python_version(), "torch": torch.__version__, "n": a.n, "epochs": a.epochs,
            "batch_size": a.batch_size, "seed": 0, "wall_s": round(time.time() - started, 1),
            "max_steps": a.max_steps, "repeats": a.repeats, "datapath_model": a.datapath_model, "workers": a.workers, "prep_epochs": a.prep_epochs,
            "prep_max_steps": a.prep_max_steps, "prep_skipgram_sizes": a.prep_skipgram_sizes, "prep_embedding_sizes": a.prep_embedding_sizes,
            "command": "python benchmarks/bench_train.py " + " ".join(sys.argv[1:]),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    out.parent.mkdir(parents=True, exist_ok=True)
    output_path(out, ".json").write_text(json.dumps({"meta": meta, "part1": part1, "part2": part2, "part3": part3},
                                                  indent=1))
    output_path(out, ".md").write_text(report(meta, part1, part2, part3))
    print(f"wrote {out}.md", flush=True)


def _f(d: dict, k: str, nd: int = 1) -> str:
    if "error" in d:
        return "error: " + d["error"]
    v = d.get(k)
    return "–" if v is None else f"{v:.{nd}f}"


def _per_rotation(row: dict, ref: dict) -> str:
    """`` (per rotation a, b, c; median m)``: the ratio within each rotation of repeated rows (both
    rows measured close in time), when every run of both succeeded; else empty."""
    a, b = row.get("samples_s_runs", []), ref.get("samples_s_runs", [])
    if len(a) < 2 or len(a) != len(b) or row.get("failed_runs") or ref.get("failed_runs"):
        return ""
    rs = [x / y for x, y in zip(a, b)]
    return f" (per rotation {', '.join(f'{x:.2f}' for x in rs)}; median {statistics.median(rs):.2f})"


def part2_table(meta: dict, part2: list) -> list[str]:
    """Part 2's section: each stream row's samples/s against the in-RAM row at the first memory
    size and against the in-RAM row at its own size (the same model work per step)."""
    mem = {r["n"]: r for r in part2 if r["loader"] == "memory" and "error" not in r}
    ref = next((r for r in part2 if r["loader"] == "memory" and "error" not in r), None)  # the first size
    cap = f", at most {meta['max_steps']} batches per epoch (`train.max_steps`)" if meta.get("max_steps") else ""
    m = meta.get("datapath_model", "twotower")
    grows = m in ("twotower", "dcmh", "cmsl", "cdq")
    L = ["", f"## Data path: in RAM vs streaming ({m}, pixels)", "",
         f"{m}, 32 bits, batch {meta['batch_size']} (full batches only), {meta['epochs']} epochs (the last one "
         f"timed){cap}; stream with {meta.get('workers')} DataLoader worker(s). "
         + (f"Every row measured {meta['repeats']} times, the rows in rotation: samples/s of the median run "
            "(every run's in brackets), the largest peak RSS; a ratio of medians, then the ratio within each rotation. " if (meta.get("repeats") or 1) > 1 else "")
         + (f"{m}'s step pairs the batch with the stored outputs of all N training items (DCMH's likelihood), "
            "so its work per step grows with N on either data path; the last column (same size) is the data "
            "path's own cost." if grows else
            f"{m}'s losses use the batch only, so its work per step does not depend on N: the ratio to the "
            "smaller in-RAM size is the data path's cost at scale."), "",
         "| scenes | data.loader | training items N | items in the timed epoch | samples/s | peak RSS MB | "
         f"samples/s / in-RAM at {ref['n'] if ref else '–'} scenes | samples/s / in-RAM at the same size |",
         "|---|---|---|---|---|---|---|---|"]
    for r in part2:
        ok = "error" not in r and r["loader"] != "memory"
        rat = f"{r['samples_s'] / ref['samples_s']:.2f}" + _per_rotation(r, ref) if ok and ref is not None else ""
        same = (f"{r['samples_s'] / mem[r['n']]['samples_s']:.2f}" + _per_rotation(r, mem[r["n"]])
                if ok and r["n"] in mem else "")
        sps = _f(r, "samples_s")
        if len(r.get("samples_s_runs", ())) > 1:
            sps += " (" + ", ".join(f"{x:.1f}" for x in r["samples_s_runs"]) + ")"
        L.append(f"| {r['n']} | {r['loader']} | {r.get('n_train', '–')} | {r.get('samples', '–')} | "
                 f"{sps} | {_f(r, 'peak_rss_mb', 0)} | {rat} | {same} |")
    return L


def report(meta: dict, part1: list, part2: list, part3: list = ()) -> str:
    L = ["# Training throughput (`benchmarks/bench_train.py`)", "",
         f"Command: `{meta.get('command', '')}`.", "",
         f"Device {meta['device']}" + (f" ({meta['gpu']})" if meta["gpu"] else "") +
         f"; {meta['cpu_cores']} CPU cores, {meta['threads_per_process']} torch threads per process; "
         f"load average before {meta['load_avg_before']}, after {meta['load_avg_after']} (a shared machine "
         "makes absolute figures noisy; ratios are measured side by side). "
         f"Git {meta['git_commit']}, torch {meta['torch']}, {meta['date']}, wall {meta['wall_s']} s.", ""]
    if part1:
        L += [f"Synthetic scenes (seed 0, 72×72 pixels), {meta['n']} items, "
              f"batch {meta['batch_size']}, {meta['epochs']} epochs, figures from the last epoch. "
              "samples/s = training items per epoch second (the epoch includes the model's per-epoch step).", "",
              "## Training loop vs forward+backward on preloaded tensors; 1 vs 2 processes", "",
              "| model | fwd+bwd samples/s | loop samples/s | loop / fwd+bwd | 2 proc samples/s | 2 proc / 1 proc | "
              "peak RSS MB (loop) | GPU peak MB (loop) |", "|---|---|---|---|---|---|---|---|"]
    for r in part1:
        fb, l1, l2 = r["fwd+bwd"], r.get("loop_1", {"error": "not run"}), r.get("loop_2", {"error": "not run"})
        ratio = (f"{l1['samples_s'] / fb['samples_s']:.2f}" if "error" not in fb and "error" not in l1 else "–")
        ratio2 = (f"{l2['samples_s'] / l1['samples_s']:.2f}" if "error" not in l2 and "error" not in l1 else "–")
        L.append(f"| {r['model']} | {_f(fb, 'samples_s')} | {_f(l1, 'samples_s')} | {ratio} | {_f(l2, 'samples_s')} | "
                 f"{ratio2} | {_f(l1, 'peak_rss_mb', 0)} | {_f(l1, 'gpu_peak_mb', 0)} |")
    if part2:
        L += part2_table(meta, part2)
    if part3:
        L += ["", "## CMSL preprocessing vs training (features mode)", "",
              "Correlation graph + random walks (+ walk embeddings where the row says so; `model.graph` defaults, empty cache) against one "
              f"training epoch (the last of {meta.get('prep_epochs')}, codebook step included; batch "
              f"{meta['batch_size']}); ratio = preprocessing / (preprocessing + 10 epochs).", "",
              "| training items | graph s | walks s | walk embeddings s | preprocessing s | epoch s | walk tokens | "
              "share of a 10-epoch training |", "|---|---|---|---|---|---|---|---|"]
        if meta.get("prep_max_steps"):
            L[-2:-2] = [f"Epochs capped at {meta['prep_max_steps']} batches (`train.max_steps`): a full epoch = "
                        "the per-epoch codebook step + the capped batches' time × full batches / capped batches.", ""]
        for r in part3:
            p, e = r["prep"], r["epoch"]
            ep = (f"{r['epoch_extrapolated_s']:.1f} (extrapolated from {e['samples']} items)"
                  if "epoch_extrapolated_s" in r else _f(e, "epoch_s"))
            L.append(f"| {r['n_train']}{' (' + r['variant'] + ')' if 'variant' in r else ''} | {_f(p, 'graph_build_s')} | {_f(p, 'graph_walks_s')} | "
                     f"{_f(p, 'graph_embedding_s')} | {_f(p, 'graph_setup_s')} | {ep} | "
                     f"{p.get('walk_tokens', '–')} | "
                     f"{(str(round(100 * r['ratio_10_epochs'], 1)) + ' %') if 'ratio_10_epochs' in r else '–'} |")
    L += [] if not part1 else ["", "1 process: cores/2 torch threads; 2 proc: `torchrun --standalone --nproc-per-node 2` (gloo on CPU, "
          "NCCL on CUDA), the same global batch, cores/2 threads each — on a CPU machine the 2-process run "
          "therefore uses twice the cores of the 1-process one."]
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    main()
