"""Benchmark: the two forms of DAFSN's all-pairs word-level score R, side by side.

:func:`crossmedia.models.word_region.attentional_similarity` needs ‖c_i‖ for every word's region
context c_i. ``gram`` gets it through each image's region Gram matrix (R²·d + Bt·T·R² products
per image), ``explicit`` builds c_i (Bt·T·R·d); ``auto`` takes the form with fewer products. This
script times both forms (and ``auto``) on the same seeded tensors, in rotation, one thread, at
two shapes: a search query (one text against a block of images, what a rerank or an exhaustive
fine-grained search runs) and a training batch (every text of a batch against every image). It
checks that the forms agree and reports each form's time as a ratio to ``gram``, the form used
for every shape before ``auto`` existed whenever R ≤ d::

    PYTHONPATH=src python benchmarks/bench_word_region.py [--regions 49] [--dim 256] [--words 12] \\
        [--images 512] [--batch 64] [--repeats 5] [--out benchmarks/results/word-region]

Writes ``OUT.md`` and ``OUT.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from crossmedia.io import write_json, write_text  # noqa: E402
from crossmedia.seed import git_commit, machine_info  # noqa: E402

FORMS = ("gram", "explicit", "auto")


def time_shape(n_images: int, n_texts: int, regions: int, dim: int, words: int, repeats: int, seed: int) -> dict:
    import torch

    from crossmedia.models.word_region import attentional_similarity

    g = torch.Generator().manual_seed(seed)
    v = torch.randn(n_images, regions, dim, generator=g)
    e = torch.randn(n_texts, words, dim, generator=g)
    mask = torch.ones(n_texts, words, dtype=torch.bool)
    mask[:, words - words // 4:] = torch.rand(n_texts, words // 4, generator=g) < 0.5  # some padding
    mask[:, 0] = True
    out, times = {}, {f: [] for f in FORMS}
    with torch.no_grad():
        for f in FORMS:  # warm-up, and the scores to compare
            out[f] = attentional_similarity(v, e, mask, 4.0, 5.0, word_norm="none", context=f)
        for _ in range(repeats):
            for f in FORMS:
                t0 = time.perf_counter()
                attentional_similarity(v, e, mask, 4.0, 5.0, word_norm="none", context=f)
                times[f].append(time.perf_counter() - t0)
    med = {f: 1e3 * statistics.median(times[f]) for f in FORMS}
    gram_cost = regions * regions * dim + n_texts * words * regions * regions
    explicit_cost = n_texts * words * regions * dim
    return {"images": n_images, "texts": n_texts, "regions": regions, "dim": dim, "words": words,
            "ms": med, "ms_each": {f: [1e3 * x for x in times[f]] for f in FORMS},
            "ratio_to_gram": {f: med[f] / med["gram"] for f in FORMS},
            "auto_takes": "gram" if gram_cost < explicit_cost else "explicit",
            "products_per_image": {"gram": gram_cost, "explicit": explicit_cost},
            "max_abs_difference": float((out["gram"] - out["explicit"]).abs().max())}


def markdown(report: dict) -> str:
    lines = ["# DAFSN's all-pairs word-level score: Gram form against explicit contexts", "",
             "| shape | images × texts | gram ms | explicit ms | auto ms (takes) | explicit / gram | auto / gram | "
             "largest score difference |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in report["shapes"].items():
        lines.append(f"| {name} | {r['images']} × {r['texts']} | {r['ms']['gram']:.1f} | {r['ms']['explicit']:.1f} | "
                     f"{r['ms']['auto']:.1f} ({r['auto_takes']}) | {r['ratio_to_gram']['explicit']:.2f} | "
                     f"{r['ratio_to_gram']['auto']:.2f} | {r['max_abs_difference']:.1e} |")
    a = report["args"]
    lines += ["", f"R = {a['regions']} regions, d = {a['dim']}, T = {a['words']} word slots (the last quarter "
              f"partly padding), seeded normal tensors; median of {a['repeats']} rotations; one torch thread; "
              "no gradient.", "",
              f"Machine: {report['machine']}. git {report['git_commit']}; {report['finished']}; "
              f"command: `{report['command']}`.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--regions", type=int, default=49, help="regions per image (1..1024)")
    ap.add_argument("--dim", type=int, default=256, help="feature dimension (1..4096)")
    ap.add_argument("--words", type=int, default=12, help="word slots per text (1..256)")
    ap.add_argument("--images", type=int, default=512, help="images against one query text (1..8192)")
    ap.add_argument("--batch", type=int, default=64, help="training batch: texts = images (1..512)")
    ap.add_argument("--repeats", type=int, default=5, help="rotations (1..100)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "word-region"))
    args = ap.parse_args(argv)
    if not (1 <= args.regions <= 1024 and 1 <= args.dim <= 4096 and 1 <= args.words <= 256
            and 1 <= args.images <= 8192 and 1 <= args.batch <= 512 and 1 <= args.repeats <= 100):
        ap.error("sizes out of range: --regions 1..1024, --dim 1..4096, --words 1..256, --images 1..8192, "
                 "--batch 1..512, --repeats 1..100")
    import torch

    torch.set_num_threads(1)
    m = machine_info()
    shapes = {"one query text": time_shape(args.images, 1, args.regions, args.dim, args.words, args.repeats, args.seed),
              "training batch": time_shape(args.batch, args.batch, args.regions, args.dim, args.words, args.repeats,
                                           args.seed + 1)}
    report = {"shapes": shapes, "args": vars(args), "git_commit": git_commit(ROOT),
              "machine": f"{m['cores']} CPU cores ({m['cpu']}), load average at the start {m['loadavg_at_start']}",
              "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
              "command": "python benchmarks/bench_word_region.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    out = Path(args.out)
    write_json(out.with_suffix(".json"), report)
    write_text(out.with_suffix(".md"), markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
