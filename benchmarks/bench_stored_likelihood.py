"""Benchmark: what one twotower training step costs as the training split grows, and the
likelihood term against every stored output computed two ways.

twotower (and DCMH) pair each mini-batch with the stored outputs of *all* N training items
(DCMH's likelihood, batch × N terms per modality), so a step does O(batch × N × bits) work on
top of the encoders. Measured in one process, the sizes and variants in rotation (so a change
of the machine's load hits them alike), median over ``--repeats`` rounds:

* ``likelihood`` — the step's label similarities + both modalities' likelihood sums, forward and
  backward: ``reference`` = plain autograd (``(labels @ labelsᵀ > 0).float()`` and
  ``pairwise_likelihood_loss(..., reduction="sum")``), ``closed form`` = ``label_similarity`` +
  ``stored_likelihood_loss`` (what the model runs);
* ``step`` — twotower's whole training step (72×72 pixels through the SmallCNN, forward,
  backward, Adam) on a batch prepared beforehand (no input pipeline), with a memory of N items,
  its likelihood in closed form (as the model runs it) and by the plain autograd reference:
  samples/s, and the ratio to the smallest N — the most a data path at that size can reach
  against the in-RAM path at the smallest size.

    PYTHONPATH=src python benchmarks/bench_stored_likelihood.py [--sizes 1000,25000] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))

from crossmedia.bench.report import output_path  # noqa: E402

import torch  # noqa: E402

from crossmedia.losses import label_similarity, pairwise_likelihood_loss, stored_likelihood_loss  # noqa: E402
from crossmedia.models import DataInfo, Ranks, get_model  # noqa: E402
from crossmedia.models import twotower as tt  # noqa: E402


def reference_likelihood(f, g, labels, train_labels, F_all, G_all, pw):
    s = (labels.float() @ train_labels.float().T > 0).float()
    return (pairwise_likelihood_loss(f, G_all, s, scale=0.5, reduction="sum", pos_weight=pw)
            + pairwise_likelihood_loss(g, F_all, s, scale=0.5, reduction="sum", pos_weight=pw))


def closed_form_likelihood(f, g, labels, train_labels, F_all, G_all, pw):
    s = label_similarity(labels, train_labels)
    return (stored_likelihood_loss(f, G_all, s, scale=0.5, pos_weight=pw)
            + stored_likelihood_loss(g, F_all, s, scale=0.5, pos_weight=pw))


def _reference_stored(u, stored, s, scale=0.5, pos_weight=None):
    return pairwise_likelihood_loss(u, stored, s, scale=scale, reduction="sum", pos_weight=pos_weight)


def _with_reference_likelihood(step):
    """Run ``step`` with twotower's likelihood computed by plain autograd (as before the closed form)."""
    saved = tt.stored_likelihood_loss, tt.label_similarity
    tt.stored_likelihood_loss = _reference_stored
    tt.label_similarity = lambda a, b: (a.float() @ b.float().T > 0).float()
    try:
        step()
    finally:
        tt.stored_likelihood_loss, tt.label_similarity = saved


class _Ctx:
    def __init__(self, labels):
        self.train_labels, self.config, self.ranks = labels, {"train": {"seed": 0}}, Ranks()


def _labels(n, c, gen):
    y = (torch.rand(n, c, generator=gen) < 0.08).float()
    y[torch.arange(n), torch.randint(0, c, (n,), generator=gen)] = 1.0  # every item has a label
    return y


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,25000", help="training-split sizes N")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--bits", type=int, default=32)
    ap.add_argument("--labels", type=int, default=48, help="label count (the synthetic scenes have 48)")
    ap.add_argument("--repeats", type=int, default=7, help="rounds; each round times every cell once")
    ap.add_argument("--steps", type=int, default=5, help="steps timed per cell and round")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(HERE / "results" / "stored_likelihood"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    sizes = [int(x) for x in a.sizes.split(",") if x]
    gen = torch.Generator().manual_seed(0)
    load0 = os.getloadavg()
    started = time.time()

    # cells: (kind, N, variant) -> a function running one timed step
    cells = {}
    pw = 5.0
    info = DataInfo(n_labels=a.labels, vocab=[f"w{i}" for i in range(300)], image_size=72)
    for n in sizes:
        tl = _labels(n, a.labels, gen)
        F_all, G_all = torch.randn(n, a.bits, generator=gen), torch.randn(n, a.bits, generator=gen)
        lab = tl[: a.batch]
        f0, g0 = torch.randn(a.batch, a.bits, generator=gen), torch.randn(a.batch, a.bits, generator=gen)
        for name, fn in (("reference", reference_likelihood), ("closed form", closed_form_likelihood)):
            def run(fn=fn, tl=tl, F_all=F_all, G_all=G_all, lab=lab, f0=f0, g0=g0):
                f, g = f0.clone().requires_grad_(), g0.clone().requires_grad_()
                fn(f, g, lab, tl, F_all, G_all, pw).backward()
            cells[("likelihood", n, name)] = run
        torch.manual_seed(0)
        model = get_model("twotower", {"bits": a.bits, "cnn_channels": [16, 32, 64, 128]}, info)
        model.setup_training(_Ctx(tl))
        model.train()
        opt = model.configure_optimizer(lr=1e-4)
        batch = {"image": torch.randint(0, 256, (a.batch, 3, 72, 72), generator=gen, dtype=torch.uint8),
                 "bow": (torch.rand(a.batch, 300, generator=gen) < 0.02).float(), "labels": lab,
                 "pos": torch.randperm(n, generator=gen)[: a.batch]}
        batch["labels"] = tl[batch["pos"]]

        def step(model=model, opt=opt, batch=batch):
            out = model.training_step(batch, 0, 0.0)
            opt.zero_grad(set_to_none=True)
            out["loss"].backward()
            opt.step()
        cells[("step", n, "closed form")] = step
        cells[("step", n, "reference")] = lambda step=step: _with_reference_likelihood(step)

    times = {k: [] for k in cells}
    for fn in cells.values():  # warm-up
        fn()
    for _ in range(a.repeats):
        for k, fn in cells.items():
            t0 = time.perf_counter()
            for _ in range(a.steps):
                fn()
            times[k].append((time.perf_counter() - t0) / a.steps)
    med = {k: statistics.median(v) for k, v in times.items()}
    rows = [{"kind": k[0], "n": k[1], "variant": k[2], "ms_per_step": round(1000 * med[k], 2),
             "runs_ms": [round(1000 * t, 2) for t in times[k]]} for k in cells]
    meta = {"threads": a.threads, "batch": a.batch, "bits": a.bits, "labels": a.labels, "pos_weight": pw,
            "repeats": a.repeats, "steps": a.steps, "cpu_cores": os.cpu_count(),
            "load_avg_before": [round(x, 2) for x in load0], "load_avg_after": [round(x, 2) for x in os.getloadavg()],
            "git_commit": _git(), "torch": torch.__version__, "python": platform.python_version(),
            "command": "python benchmarks/bench_stored_likelihood.py " + " ".join(sys.argv[1:]),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "wall_s": round(time.time() - started, 1)}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    output_path(out, ".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    output_path(out, ".md").write_text(report(meta, rows, a.batch))
    print(output_path(out, ".md").read_text())


def _git() -> str | None:
    from crossmedia.seed import git_commit

    return git_commit()


def report(meta: dict, rows: list, batch: int) -> str:
    by = {(r["kind"], r["n"], r["variant"]): r for r in rows}
    sizes = sorted({r["n"] for r in rows})
    L = ["# twotower's step against the training-set size (`benchmarks/bench_stored_likelihood.py`)", "",
         f"Command: `{meta['command']}`.", "",
         f"{meta['cpu_cores']} CPU cores (shared), {meta['threads']} torch thread(s); load average before "
         f"{meta['load_avg_before']}, after {meta['load_avg_after']}. Git {meta['git_commit']}, torch {meta['torch']}, "
         f"{meta['date']}, wall {meta['wall_s']} s. Batch {meta['batch']}, {meta['bits']} bits, {meta['labels']} labels, "
         f"pos_weight {meta['pos_weight']}; median of {meta['repeats']} rounds of {meta['steps']} steps, every cell "
         "once per round in rotation.", "",
         "## The likelihood against every stored output (both modalities, forward + backward)", "",
         "| training items N | reference (autograd) ms/step | closed form ms/step | reference / closed form |",
         "|---|---|---|---|"]
    for n in sizes:
        r, c = by[("likelihood", n, "reference")], by[("likelihood", n, "closed form")]
        L.append(f"| {n} | {r['ms_per_step']:.1f} | {c['ms_per_step']:.1f} | {r['ms_per_step'] / c['ms_per_step']:.2f} |")
    L += ["", "## twotower's whole step (72×72 pixels, batch prepared beforehand, Adam)", "",
          f"| training items N | likelihood | ms/step | samples/s | samples/s / at N = {sizes[0]} (same likelihood) |",
          "|---|---|---|---|---|"]
    for variant in ("closed form", "reference"):
        base = by[("step", sizes[0], variant)]["ms_per_step"]
        for n in sizes:
            ms = by[("step", n, variant)]["ms_per_step"]
            L.append(f"| {n} | {variant} | {ms:.1f} | {1000 * batch / ms:.1f} | {base / ms:.2f} |")
    L += ["", "The last column is the most any data path can reach at N training items against the in-RAM "
          f"path at N = {sizes[0]}: the model's own work per step grows with N."]
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    main()
