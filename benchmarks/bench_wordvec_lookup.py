"""Benchmark: what mapping a query's unseen words costs when the word vectors are a text file.

``data.unseen_words`` (``crossmedia.data.unseen``) looks up the vectors of every new unseen word
a query brings; a search service does it once per such query. With a GloVe/word2vec text file as
the source, a lookup either reads the whole file (``reference``: ``wordvec._scan_text_file``, the
path of ``.gz`` files at every lookup) or seeks to the words' lines
through a line index built by one read of the file and kept for the process (``index``:
``wordvec.lookup_vectors``). Both run in one process on the same generated file (GloVe 6B 50-d's
shape by default: 400,000 words × 50 values), alternating, median over ``--repeats``; the index's
first lookup (its build) is timed apart. The vectors found are checked equal.

    PYTHONPATH=src python benchmarks/bench_wordvec_lookup.py [--words 400000] [--dim 50] [--repeats 5]

Writes ``OUT.md`` and ``OUT.json`` (default ``benchmarks/results/wordvec-lookup``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from crossmedia.data import wordvec  # noqa: E402
from crossmedia.io import write_json, write_text  # noqa: E402
from crossmedia.seed import git_commit, machine_info  # noqa: E402


def write_vectors(path: Path, n: int, dim: int, seed: int) -> None:
    """A GloVe-format text file of ``n`` words (``w0`` …) with seeded values, 6 decimals as GloVe's."""
    rng = np.random.default_rng(seed)
    with open(path, "w", encoding="utf-8") as f:
        for start in range(0, n, 10_000):
            block = rng.normal(0.0, 0.5, size=(min(10_000, n - start), dim))
            f.write("".join(f"w{start + i} " + " ".join(f"{x:.6f}" for x in row) + "\n" for i, row in enumerate(block)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--words", type=int, default=400_000, help="words in the generated file (1000..5000000)")
    ap.add_argument("--dim", type=int, default=50, help="values per word (1..1000)")
    ap.add_argument("--per-query", type=int, default=3, help="unseen words a query brings (1..50)")
    ap.add_argument("--repeats", type=int, default=5, help="lookups timed per path (1..1000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "wordvec-lookup"))
    args = ap.parse_args(argv)
    if not 1000 <= args.words <= 5_000_000 or not 1 <= args.dim <= 1000:
        ap.error("--words: expected 1000..5000000; --dim: expected 1..1000")
    if not 1 <= args.per_query <= 50 or not 1 <= args.repeats <= 1000:
        ap.error("--per-query: expected 1..50; --repeats: expected 1..1000")
    commit, machine = git_commit(), machine_info()
    rng = np.random.default_rng([args.seed, 1])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vectors.txt"
        t = time.perf_counter()
        write_vectors(path, args.words, args.dim, args.seed)
        gen_s = time.perf_counter() - t
        size_mb = path.stat().st_size / 1e6
        queries = [{f"w{int(i)}" for i in rng.integers(0, args.words, args.per_query)} | {"zzz-not-there"}
                   for _ in range(args.repeats + 1)]
        wordvec._text_file_index.cache_clear()
        t = time.perf_counter()
        first, _, _ = wordvec.lookup_vectors(path, queries[0])
        build_s = time.perf_counter() - t
        ref, idx = [], []
        for q in queries[1:]:
            t = time.perf_counter()
            a, _, _ = wordvec._scan_text_file(path, q)
            ref.append(time.perf_counter() - t)
            t = time.perf_counter()
            b, _, _ = wordvec.lookup_vectors(path, q)
            idx.append(time.perf_counter() - t)
            if a.keys() != b.keys() or any(not np.array_equal(a[w], b[w]) for w in a):
                print("error: the index and the full read disagree", file=sys.stderr)
                return 1
        assert wordvec._text_file_index.cache_info().misses == 1
    ref_s, idx_s = statistics.median(ref), statistics.median(idx)
    report = {"bench": "wordvec-lookup", "words": args.words, "dim": args.dim, "per_query": args.per_query,
              "repeats": args.repeats, "seed": args.seed, "file_mb": round(size_mb, 1), "generate_s": round(gen_s, 2),
              "reference_s": ref_s, "index_s": idx_s, "index_build_s": build_s, "speedup": ref_s / idx_s,
              "break_even_lookups": build_s / max(ref_s - idx_s, 1e-12), "git_commit": commit, "machine": machine,
              "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
              "command": " ".join(["python benchmarks/bench_wordvec_lookup.py", *(sys.argv[1:] if argv is None else argv)])}
    md = ["# Looking up a query's unseen words in a word-vector text file", "",
          f"Generated GloVe-format file: {args.words:,} words × {args.dim} values ({size_mb:.0f} MB); each lookup asks "
          f"for {args.per_query} words of the file and one it lacks; median of {args.repeats} lookups per path, the "
          "paths alternating in one process; the vectors found are equal.", "",
          "| path | one lookup | ratio |", "|---|---:|---:|",
          f"| reference: read the whole file (what `.gz` files take at each lookup) | {ref_s * 1e3:.1f} ms | 1 |",
          f"| line index, kept for the process | {idx_s * 1e3:.3f} ms | {ref_s / idx_s:,.0f}× faster |",
          f"| the index's build (the first lookup; one read of the file) | {build_s * 1e3:.0f} ms | "
          f"{build_s / ref_s:.1f}× a full read |", "",
          f"Counting its build, the index costs less than full reads once a process has looked up more than "
          f"{report['break_even_lookups']:.1f} times. Memory of the index: 16 bytes a line "
          f"({args.words * 16 / 1e6:.1f} MB here).", "",
          f"Machine: {machine['cores']} CPU cores ({machine['cpu']}), load average {machine['loadavg_at_start']} at "
          f"start; git {commit}; {report['created']}; `{report['command']}`.", ""]
    write_json(Path(args.out + ".json"), report)
    write_text(Path(args.out + ".md"), "\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
