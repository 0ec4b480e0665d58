"""Benchmark: SCAN's t-i score over a training batch, padded vs packed pair tensors.

Over a batch of B texts padded to its longest text (T words), the padded layout scores every
(image, text, word slot, region): (B, B, T, R) pair tensors, most of them padding when texts are
short tags. The packed layout (``scan_similarity(layout="packed")``, the default for such
batches) scores only the batch's n real words: (B, n, R). The scores are the same up to
rounding. This script loads a CMSL run (``--which last`` by default), takes ``--batches``
training batches of its own data (the first batches of a seeded permutation of the training
split), and times on each, alternating the two layouts, ``--repeats`` rounds of ``--steps`` steps:

* ``step``: the model's training step (forward, loss, backward; no optimiser step, so every
  timed step sees the same weights), the layout switched on the model's SCAN module;
* ``scan``: SCAN's forward + backward alone at the batch's shapes (B images × R regions, B texts
  with the batch's own word counts, the run's joint dimension), on seeded random features.

Reported per batch: words per text (mean), T, median seconds of each layout, padded / packed
(> 1: packing is faster), and the largest differences between the layouts' losses and SCAN
scores (what packing changes in the numbers). One torch thread, subnormals flushed as in
training::

    PYTHONPATH=src python benchmarks/bench_scan.py --run RUN [--batches 3] [--steps 2] \\
        [--repeats 3] [--out benchmarks/results/scan_layout]

Writes ``OUT.md`` and ``OUT.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from crossmedia.bench.report import write_report  # noqa: E402

LAYOUTS = ("padded", "packed")


def _timed(fn, steps: int) -> float:
    """Mean seconds of ``steps`` calls of ``fn``."""
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t0) / steps


def measure_batch(model, batch, epoch: int, progress: float, dim: int, steps: int, repeats: int, seed: int) -> dict:
    import torch

    from crossmedia.models.base import attention_rows
    from crossmedia.models.scan import scan_similarity

    counts = attention_rows(batch["tokens"]).sum(1)
    b, t = int(counts.numel()), max(int(counts.max()), 1)
    with torch.no_grad():
        r = int(model.image_regions(batch).shape[1])
    g = torch.Generator().manual_seed(seed)
    regions = torch.randn(b, r, dim, generator=g).requires_grad_()
    words = torch.randn(b, t, dim, generator=g).requires_grad_()
    wmask = torch.arange(t)[None, :] < counts[:, None]

    def step():
        model.zero_grad(set_to_none=True)
        out = model.training_step(batch, epoch, progress)
        out["loss"].backward()
        return float(out["loss"].detach())

    def scan_fn(layout):
        def run():
            regions.grad = words.grad = None
            s = scan_similarity(regions, words, wmask, layout=layout)
            s.sum().backward()
            return s.detach()
        return run

    times = {k: {lay: [] for lay in LAYOUTS} for k in ("step", "scan")}
    losses, scores = {}, {}
    for lay in LAYOUTS:  # warm-up, and each layout's numbers
        model.scan.layout = lay
        torch.manual_seed(seed)
        losses[lay] = step()
        scores[lay] = scan_fn(lay)()
    for _ in range(repeats):
        for lay in LAYOUTS:
            model.scan.layout = lay
            torch.manual_seed(seed)  # the same dropout masks in both layouts
            times["step"][lay].append(_timed(step, steps))
            times["scan"][lay].append(_timed(scan_fn(lay), steps))
    model.scan.layout = "auto"
    med = {k: {lay: statistics.median(v[lay]) for lay in LAYOUTS} for k, v in times.items()}
    return {"texts": b, "words_per_text": float(counts.float().mean()), "T": t, "regions": r, "dim": dim,
            "step_s": med["step"], "scan_s": med["scan"],
            "step_ratio": med["step"]["padded"] / med["step"]["packed"],
            "scan_ratio": med["scan"]["padded"] / med["scan"]["packed"],
            "loss_difference": abs(losses["padded"] - losses["packed"]),
            "scan_score_difference": float((scores["padded"] - scores["packed"]).abs().max()),
            "each": times}


def measure(run: Path, which: str, n_batches: int, steps: int, repeats: int, seed: int) -> dict:
    import torch

    from crossmedia.errors import UserError
    from crossmedia.eval.evaluator import load_for_evaluation

    torch.set_num_threads(1)
    ck, rd = load_for_evaluation(run, which=which)
    model = ck.model
    if model.model_name != "cmsl" or not model.local_enabled or model.local_form != "scan":
        raise UserError(f"--run {run}: a CMSL run with the SCAN local branch expected, got {model.model_name}")
    model.train()
    train_idx = np.asarray(rd.protocol["train"])
    bs = int(ck.config["train"]["batch_size"])
    order = np.random.default_rng(seed).permutation(len(train_idx))
    epoch = int(ck.meta.get("epoch", 0))
    progress = min(epoch / max(int(ck.config["train"]["epochs"]), 1), 1.0)
    dim = int(ck.config["model"]["local"]["dim"])
    rows = []
    torch.set_flush_denormal(True)
    try:
        for k in range(min(n_batches, max(len(train_idx) // bs, 1))):
            pos = order[k * bs : (k + 1) * bs]
            batch = rd.tensors.batch(train_idx[pos])
            batch["pos"] = torch.as_tensor(pos)
            rows.append(measure_batch(model, batch, epoch, progress, dim, steps, repeats, seed + k))
    finally:
        torch.set_flush_denormal(False)
    return {"run": str(run), "checkpoint": which, "epoch": epoch, "batch_size": bs, "batches": rows}


def markdown(report: dict) -> str:
    r = report["result"]
    lines = ["# SCAN t-i over a training batch: padded vs packed pair tensors", "",
             f"Run `{r['run']}` ({r['checkpoint']} checkpoint, epoch {r['epoch']}), batches of {r['batch_size']}.", "",
             "| batch | words/text | T | regions | step s padded | step s packed | step padded / packed | "
             "SCAN s padded | SCAN s packed | SCAN padded / packed | loss diff | SCAN score diff |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for i, b in enumerate(r["batches"]):
        lines.append(f"| {i} | {b['words_per_text']:.2f} | {b['T']} | {b['regions']} | {b['step_s']['padded']:.3f} | "
                     f"{b['step_s']['packed']:.3f} | {b['step_ratio']:.2f}× | {b['scan_s']['padded']:.3f} | "
                     f"{b['scan_s']['packed']:.3f} | {b['scan_ratio']:.2f}× | {b['loss_difference']:.1e} | "
                     f"{b['scan_score_difference']:.1e} |")
    a = report["args"]
    lines += ["", "step = the model's training step (forward, loss, backward; no optimiser step); SCAN = "
              "scan_similarity's forward + backward alone at the batch's shapes (seeded random features, the run's "
              f"joint dimension {r['batches'][0]['dim'] if r['batches'] else '?'}). Median over {a['repeats']} "
              f"alternating rounds of the mean of {a['steps']} steps; one torch thread; subnormals flushed.", "",
              f"Machine: {report['machine']}. git {report['git_commit']}; {report['finished']}; "
              f"command: `{report['command']}`.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True, help="a CMSL run directory (SCAN local branch)")
    ap.add_argument("--which", default="last", choices=("last", "best"))
    ap.add_argument("--batches", type=int, default=3, help="training batches measured (1..100)")
    ap.add_argument("--steps", type=int, default=2, help="steps per round (1..1000)")
    ap.add_argument("--repeats", type=int, default=3, help="rounds per layout (1..100)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "scan_layout"))
    args = ap.parse_args(argv)
    if not 1 <= args.batches <= 100 or not 1 <= args.steps <= 1000 or not 1 <= args.repeats <= 100:
        ap.error("--batches: expected 1..100; --steps: 1..1000; --repeats: 1..100")
    if not Path(args.run).is_dir():
        print(f"error: --run {args.run}: not a run directory", file=sys.stderr)
        return 2
    from crossmedia.errors import UserError

    try:
        result = measure(Path(args.run), args.which, args.batches, args.steps, args.repeats, args.seed)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    write_report(args.out, {"result": result, "args": vars(args)}, markdown, script="benchmarks/bench_scan.py",
                 argv=argv, root=ROOT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
