"""Benchmark: what subnormal floats cost a training step on the CPU, and what flushing them saves.

The trainer flushes subnormal floats (|x| < 1.2e-38) to zero while it trains
(``torch.set_flush_denormal``). This script loads a run's checkpoint (``--which last`` by
default: the state a resumed training continues from), takes one training batch of its own data,
and times the model's training step (forward, loss, backward; no optimiser step, so every timed
step sees the same weights) with flushing off (the reference: the process default) and on,
alternating, ``--repeats`` rounds of ``--steps`` steps each, one thread. Reported: median
seconds per step of each mode, their ratio (> 1: flushing is faster), and the largest difference
between the two modes' losses (what flushing changes in the numbers)::

    PYTHONPATH=src python benchmarks/bench_denormal.py --run RUN [--which last] [--batch 64] \\
        [--steps 4] [--repeats 3] [--out benchmarks/results/denormal]

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


def time_steps(model, batch, steps: int, flush: bool, epoch: int, progress: float) -> tuple[float, float]:
    """Mean seconds per training step with subnormal flushing ``flush``, and the last step's loss.
    The process's flushing is set back to its default (off) before returning."""
    import torch

    torch.set_flush_denormal(flush)
    try:
        t0 = time.perf_counter()
        loss = float("nan")
        for _ in range(steps):
            model.zero_grad(set_to_none=True)
            out = model.training_step(batch, epoch, progress)
            out["loss"].backward()
            loss = float(out["loss"].detach())
        return (time.perf_counter() - t0) / steps, loss
    finally:
        torch.set_flush_denormal(False)


def measure(run: Path, which: str, batch_size: int, steps: int, repeats: int) -> dict:
    import torch

    from crossmedia.eval.evaluator import load_for_evaluation

    torch.set_num_threads(1)
    ck, rd = load_for_evaluation(run, which=which)
    model = ck.model
    model.train()
    idx = np.asarray(rd.protocol["train"])[:batch_size]
    batch = rd.tensors.batch(idx)
    batch["pos"] = torch.arange(len(idx))  # positions in the training split (as the trainer's batches carry)
    epoch = int(ck.meta.get("epoch", 0))
    epochs = int(ck.config["train"]["epochs"])
    progress = min(epoch / max(epochs, 1), 1.0)
    torch.manual_seed(0)  # dropout masks: each mode's rounds start from the same stream
    time_steps(model, batch, 1, False, epoch, progress)  # warm-up
    times: dict[str, list[float]] = {"off": [], "on": []}
    losses: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(repeats):
        for mode in ("off", "on"):
            torch.manual_seed(0)
            s, loss = time_steps(model, batch, steps, mode == "on", epoch, progress)
            times[mode].append(s)
            losses[mode].append(loss)
    off, on = statistics.median(times["off"]), statistics.median(times["on"])
    return {"run": str(run), "checkpoint": which, "model": model.model_name,
            "batch_size": len(idx), "steps": steps, "repeats": repeats, "epoch": epoch,
            "s_per_step_off": off, "s_per_step_on": on, "ratio_off_over_on": off / on,
            "s_per_step_each": times, "loss_each": losses,
            "max_loss_difference": max(abs(a - b) for a, b in zip(losses["off"], losses["on"]))}


def markdown(report: dict) -> str:
    lines = ["# Subnormal floats in a CPU training step", "",
             "| run | checkpoint | model | s/step, flushing off (reference) | s/step, flushing on | off / on | "
             "largest loss difference |", "|---|---|---|---:|---:|---:|---:|"]
    for r in report["results"]:
        lines.append(f"| `{r['run']}` | {r['checkpoint']} (epoch {r['epoch']}) | {r['model']} | {r['s_per_step_off']:.3f} | "
                     f"{r['s_per_step_on']:.3f} | {r['ratio_off_over_on']:.2f}× | {r['max_loss_difference']:.2e} |")
    lines += ["", f"One training batch of {report['results'][0]['batch_size']} items from the run's training split; "
              "training step = forward, loss and backward (no optimiser step: every step sees the same weights); "
              "the two modes alternate, median over the rounds of the mean of "
              f"{report['args']['steps']} steps; one torch thread.", "",
              f"Machine: {report['machine']}. git {report['git_commit']}; {report['finished']}; "
              f"command: `{report['command']}`.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", action="append", required=True, help="run directory (repeatable)")
    ap.add_argument("--which", default="last", choices=("last", "best"))
    ap.add_argument("--batch", type=int, default=64, help="items in the timed batch (1..4096)")
    ap.add_argument("--steps", type=int, default=4, help="steps per round (1..1000)")
    ap.add_argument("--repeats", type=int, default=3, help="rounds per mode (1..100)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "denormal"))
    args = ap.parse_args(argv)
    if not 1 <= args.batch <= 4096 or not 1 <= args.steps <= 1000 or not 1 <= args.repeats <= 100:
        ap.error("--batch: expected 1..4096; --steps: 1..1000; --repeats: 1..100")
    for r in args.run:
        if not Path(r).is_dir():
            print(f"error: --run {r}: not a run directory", file=sys.stderr)
            return 2
    results = [measure(Path(r), args.which, args.batch, args.steps, args.repeats) for r in args.run]
    write_report(args.out, {"results": results, "args": vars(args)}, markdown, script="benchmarks/bench_denormal.py",
                 argv=argv, root=ROOT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
