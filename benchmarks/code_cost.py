"""Benchmark: what a model's codes cost against its own float outputs (test mAP@all).

For every trained run of every group, the test split is ranked in each code view of
:mod:`crossmedia.eval.codes`: ``native`` (the model's own codec: CMSL/CDQ's composite codes by
AQD, the hashing models' sign codes by Hamming, the real-valued models' float32 vectors by
cosine), ``float`` (the float32 outputs compared as the model trains them: inner product for
CMSL/CDQ and the hashing models, cosine for the others) and ``cq`` (the outputs, l2-normalised,
composite-quantized at ``model.bits`` after training, fitted on the training split: for CMSL/CDQ
this separates the codebooks they learn jointly with the networks from their representations). Reported per group: mean
± sample std over its runs of mAP@all in both directions, bytes per item, and each view's
difference to ``float`` (what storing the codes instead of the vectors costs). For a model
whose own codes are composite (CMSL, CDQ: codebooks shared by both modalities) each run's test
database is also described per modality: mean output norm, relative squared error of its codes
(Σ‖x − x̂‖² / Σ‖x‖²), distinct outputs and distinct codes. A run is evaluated at its best
validation checkpoint, as the quality bench does::

    PYTHONPATH=src python benchmarks/code_cost.py --group 'cmsl=RUNS/cmsl-32b-seed*' \\
        --group 'dscmr-128=OTHER/dscmr-128b-seed*' [--data DIR] [--out benchmarks/results/code_cost]

``--group NAME=PATTERN`` (repeatable): a glob of run directories. ``--database unseen`` ranks the
retrieval items outside train and val only (``crossmedia eval --database``). Writes ``OUT.md`` and ``OUT.json``; a
malformed group, a pattern matching no run or a run that cannot be evaluated exits 2 with a
one-line error, writing nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from crossmedia.bench.report import (group_parser, groups_summary, mean_std, measure_groups, protocol_line,  # noqa: E402
                                     write_report)
from crossmedia.data.protocol import DATABASE_VIEWS  # noqa: E402
from crossmedia.eval import DIRECTIONS  # noqa: E402


#: the views measured for every model
VIEWS = ("native", "float", "cq")


def measure_run(run: Path, data_root, database: str = "retrieval") -> dict:
    from crossmedia.eval import evaluate
    from crossmedia.eval.evaluator import load_for_evaluation

    ck, rd = load_for_evaluation(run, data_root=data_root)
    model, cfg = ck.model, ck.config
    out = {"run": str(run), "model": model.model_name, "bits": int(model.bits), "dim": int(model.dim),
           "seed": int(cfg["train"]["seed"]), "views": {}}
    for view in VIEWS:
        res = evaluate(model, rd, cfg, split="test", metrics=["map_all"], codes=view, database=database)
        out["views"][view] = {"codec": res["ranking"]["codec"],
                              "code_bytes_per_item": res["code_bytes_per_item"],
                              **{d: float(res["results"][d]["map_all"]["value"]) for d in DIRECTIONS}}
    out["database"] = database_codes(model, rd, database)
    out["database_view"] = {"view": database, "holds": rd.protocol.test_database_text(database)}
    out["protocol"] = protocol_line(rd)
    return out


def database_codes(model, rd, database: str = "retrieval") -> dict | None:
    """Per modality of the test database: mean output norm, the relative squared error of the
    model's own composite codes, distinct output vectors, distinct codes; None when its codes are
    not composite."""
    import numpy as np

    from crossmedia.codecs import CompositeCodec
    from crossmedia.eval import encode_items

    codec = model.codec()
    if not isinstance(codec, CompositeCodec):
        return None
    books = codec.codebooks
    images, texts = encode_items(model, rd.tensors, rd.protocol.test_database(database), desc="test database")
    out = {}
    for name, x in (("image", images), ("text", texts)):
        x = codec.prepare(x)
        codes = codec.encode(x)
        rebuilt = sum(books[m][codes[:, m]] for m in range(books.shape[0]))
        out[name] = {"mean_norm": float(np.linalg.norm(x, axis=1).mean()),
                     "rel_sq_error": float(((x - rebuilt) ** 2).sum() / max(float((x * x).sum()), 1e-12)),
                     "distinct_outputs": int(len(np.unique(x, axis=0))),
                     "distinct_codes": int(len(np.unique(codes, axis=0))), "items": int(x.shape[0])}
    return out


def summarise(groups: dict[str, list[dict]]) -> list[dict]:
    rows = []
    for name, runs in groups.items():
        for view in ("native", "cq", "float"):  # every run has every view (VIEWS); table order
            row = {"group": name, "model": runs[0]["model"], "bits": runs[0]["bits"], "dim": runs[0]["dim"],
                   "view": view, "seeds": [r["seed"] for r in runs],
                   "code_bytes_per_item": runs[0]["views"][view]["code_bytes_per_item"]}
            for d in DIRECTIONS:
                row[d] = mean_std([r["views"][view][d] for r in runs])
                row[f"{d} vs float"] = mean_std([r["views"][view][d] - r["views"]["float"][d] for r in runs])
            rows.append(row)
    return rows


def markdown(report: dict) -> str:
    lines = ["# What the codes cost: each view against the model's own float outputs (test mAP@all)", "",
             report["description"], "",
             "| group | model | bits | view | bytes per item | image→text | text→image | Δ vs float (i→t / t→i) |",
             "|---|---|---:|---|---:|---:|---:|---|"]
    for r in report["rows"]:
        cells = [f"{r[d]['mean']:.4f} ± {r[d]['std']:.4f}" for d in DIRECTIONS]
        delta = "–" if r["view"] == "float" else " / ".join(f"{r[f'{d} vs float']['mean']:+.4f}" for d in DIRECTIONS)
        lines.append(f"| {r['group']} | {r['model']} | {r['bits']} | {r['view']} | {r['code_bytes_per_item']:g} | "
                     f"{cells[0]} | {cells[1]} | {delta} |")
    db = [(g, r) for g, runs in report["groups"].items() for r in runs if r.get("database")]
    if db:
        lines += ["", "Composite codes of the test database, per modality (models whose own codes are composite): "
                  "mean output norm, relative squared error of the codes, distinct outputs / distinct codes.", "",
                  "| group | seed | modality | mean norm | relative squared error | distinct outputs | distinct codes |",
                  "|---|---:|---|---:|---:|---:|---:|"]
        for g, r in db:
            for mod, d in r["database"].items():
                lines.append(f"| {g} | {r['seed']} | {mod} | {d['mean_norm']:.3f} | {d['rel_sq_error']:.4f} | "
                             f"{d['distinct_outputs']} of {d['items']} | {d['distinct_codes']} |")
    first = next(iter(report["groups"].values()))[0]
    lines += ["", f"Test database: {first['database_view']['holds']}.", "", f"Protocol: {report['protocol']}", "",
              f"Machine: {report['machine']}. git {report['git_commit']}; {report['finished']}; "
              f"command: `{report['command']}`."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = group_parser(__doc__.split("\n\n")[0], ROOT / "benchmarks" / "results" / "code_cost")
    ap.add_argument("--database", choices=DATABASE_VIEWS, default="retrieval",
                    help="which retrieval items the test queries rank (crossmedia eval --database)")
    args = ap.parse_args(argv)
    groups = measure_groups(args.group, lambda r: measure_run(r, args.data, args.database))
    if groups is None:
        return 2
    head = groups_summary(groups)
    report = {
        "bench": "code_cost", "measure": "mAP@all (test split; relevant iff query and item share a label)",
        "database": args.database,
        "description": (head["seeds"] + ", each run at its best validation checkpoint. Views: native = the model's own codec; "
                        "float = its float32 outputs compared as it trains them (inner product for CMSL/CDQ and the "
                        "hashing models, cosine for the others: there float is native); cq = the outputs l2-normalised "
                        "and composite-quantized at model.bits after training, fitted on the training split."),
        "protocol": head["protocol"], "groups": groups, "rows": summarise(groups),
    }
    write_report(args.out, report, markdown, script="benchmarks/code_cost.py", argv=argv, root=ROOT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
