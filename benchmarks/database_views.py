"""Benchmark: how much of a test score comes from the training items in the database.

Protocols made like DCMH's (MIRFlickr, NUS-WIDE, the icon and synthetic scenes) rank the test
queries against a retrieval set that holds the training items. A model that fits its training
items closely ranks them well, and that counts in its mAP, although a collection indexed after
training holds none of them. For every trained run of every group the test queries are ranked,
with the model's own codec, against each view of the retrieval set
(:meth:`crossmedia.data.protocol.Protocol.test_database`): ``retrieval`` (all of it, the
protocol's test), ``unseen`` (the items outside train and val: never seen in training or model
selection) and ``train`` (the items the model trained on). Reported per group and view: mean ±
sample std over its runs of mAP@all in both directions, and each group's difference to the
first group (difference of means, with the two groups' pooled std). A run is evaluated at its
best validation checkpoint, as the quality bench does::

    PYTHONPATH=src python benchmarks/database_views.py --group 'cmsl=RUNS/cmsl-32b-seed*' \\
        --group 'acmr=OTHER/acmr-32b-seed*' [--data DIR] [--codes native] \\
        [--out benchmarks/results/database_views]

``--group NAME=GLOB`` (repeatable): run directories. Writes ``OUT.md``, ``OUT.json`` and the bars
of every cell, ``OUT.png``; a
malformed group, a pattern matching no run, a protocol without one of the views or a run that
cannot be evaluated exits 2 with a one-line error, writing nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from crossmedia.bench.report import (group_parser, groups_summary, mean_std, measure_groups, output_path,  # noqa: E402
                                     pooled_std, protocol_line, write_report)
from crossmedia.data.protocol import DATABASE_VIEWS  # noqa: E402
from crossmedia.eval import DIRECTIONS  # noqa: E402


def measure_run(run: Path, data_root, codes: str) -> dict:
    from crossmedia.eval import evaluate
    from crossmedia.eval.evaluator import load_for_evaluation

    ck, rd = load_for_evaluation(run, data_root=data_root)
    model, cfg = ck.model, ck.config
    out = {"run": str(run), "model": model.model_name, "bits": int(model.bits), "seed": int(cfg["train"]["seed"]),
           "views": {}}
    for view in DATABASE_VIEWS:
        res = evaluate(model, rd, cfg, split="test", metrics=["map_all"], codes=codes, database=view)
        out["views"][view] = {"items": res["database"]["count"], "holds": res["database"]["holds"],
                              "random": res["random_ranking"]["map_all"], "codec": res["ranking"]["codec"],
                              **{d: float(res["results"][d]["map_all"]["value"]) for d in DIRECTIONS}}
    out["protocol"] = protocol_line(rd)
    return out


def _spread(stat: dict) -> float | None:
    """A group's per-seed std, None for a single run (no spread)."""
    return stat["std"] if stat["n"] > 1 else None


def summarise(groups: dict[str, list[dict]]) -> list[dict]:
    rows = []
    first = next(iter(groups))
    for view in DATABASE_VIEWS:
        for name, runs in groups.items():
            row = {"group": name, "model": runs[0]["model"], "bits": runs[0]["bits"], "database": view,
                   "items": runs[0]["views"][view]["items"], "random": runs[0]["views"][view]["random"],
                   "seeds": [r["seed"] for r in runs]}
            for d in DIRECTIONS:
                row[d] = mean_std([r["views"][view][d] for r in runs])
            rows.append(row)
        ref = {d: rows[-len(groups)][d] for d in DIRECTIONS}
        for row in rows[-len(groups):]:
            for d in DIRECTIONS:
                row[f"{d} vs {first}"] = {"diff": row[d]["mean"] - ref[d]["mean"], "pooled_std": pooled_std(_spread(row[d]), _spread(ref[d]))}
    return rows


def markdown(report: dict) -> str:
    first = next(iter(report["groups"]))
    lines = ["# Test mAP@all against each view of the retrieval set: all of it, the items never seen, the training items",
             "", report["description"], "",
             f"| database | items | random | group | model | bits | image→text | text→image | Δ vs {first} (i→t / t→i) |",
             "|---|---:|---:|---|---|---:|---:|---:|---|"]
    for r in report["rows"]:
        cells = [f"{r[d]['mean']:.4f} ± {r[d]['std']:.4f}" for d in DIRECTIONS]
        if r["group"] == first:
            delta = "–"
        else:
            delta = " / ".join(f"{r[f'{d} vs {first}']['diff']:+.4f}" for d in DIRECTIONS)
            ps = [r[f"{d} vs {first}"]["pooled_std"] for d in DIRECTIONS]
            if None not in ps:
                delta += " (pooled std " + " / ".join(f"{p:.4f}" for p in ps) + ")"
        lines.append(f"| {r['database']} | {r['items']} | {r['random']:.4f} | {r['group']} | {r['model']} | {r['bits']} | "
                     f"{cells[0]} | {cells[1]} | {delta} |")
    holds = {v: next(iter(report["groups"].values()))[0]["views"][v]["holds"] for v in DATABASE_VIEWS}
    if report.get("plot"):
        lines += ["", f"![mAP@all per group and database]({report['plot']})"]
    lines += ["", "Views: " + "; ".join(f"`{v}` = {h}" for v, h in holds.items()) + ".", "",
              f"Protocol: {report['protocol']}", "",
              f"Machine: {report['machine']}. git {report['git_commit']}; {report['finished']}; "
              f"command: `{report['command']}`."]
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> Path:
    """Bars per group, one per database view (mean ± std over seeds), a panel per direction."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from crossmedia.io import atomic_path

    names = list(report["groups"])
    rows = {(r["group"], r["database"]): r for r in report["rows"]}
    x = np.arange(len(names))
    w = 0.8 / len(DATABASE_VIEWS)
    fig, axes = plt.subplots(1, 2, figsize=(max(7.0, 1.1 * len(names) + 3), 4.4), sharey=True)
    for ax, d in zip(axes, DIRECTIONS):
        for k, view in enumerate(DATABASE_VIEWS):
            cells = [rows[n, view] for n in names]
            ax.bar(x + (k - (len(DATABASE_VIEWS) - 1) / 2) * w, [c[d]["mean"] for c in cells], w,
                   yerr=[c[d]["std"] for c in cells], capsize=2, color=f"C{k}",
                   label=f"{view} ({cells[0]['items']} items)")
        ax.axhline(rows[names[0], "retrieval"]["random"], color="grey", lw=0.8, ls="-.", label="random ranking")
        ax.set_xticks(x, names, rotation=35, ha="right", fontsize=8)
        ax.set_title(d.replace("->", " → "))
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("test mAP@all (mean ± std over seeds)")
    axes[1].legend(fontsize=7)
    fig.suptitle("The same test queries against the whole retrieval set, its unseen items, its training items")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    from crossmedia.eval import CODE_VIEWS

    ap = group_parser(__doc__.split("\n\n")[0], ROOT / "benchmarks" / "results" / "database_views")
    ap.add_argument("--codes", choices=CODE_VIEWS, default="native", help="code view every run is ranked in")
    args = ap.parse_args(argv)
    groups = measure_groups(args.group, lambda r: measure_run(r, args.data, args.codes))
    if groups is None:
        return 2
    head = groups_summary(groups)
    report = {
        "bench": "database_views", "codes": args.codes,
        "measure": "mAP@all (test queries; relevant iff query and item share a label; ties by index)",
        "description": (head["seeds"] + f", each run at its best validation checkpoint, ranked in its `{args.codes}` code view. "
                        "The same test queries every time; only the database changes. `random` = expected mAP@all "
                        "of a random ranking of that database. Δ = difference of the groups' means; pooled std = "
                        "sqrt((s₁² + s₂²) / 2)."),
        "protocol": head["protocol"], "groups": groups, "rows": summarise(groups),
    }
    report["plot"] = output_path(args.out, ".png").name
    write_report(args.out, report, markdown, script="benchmarks/database_views.py", argv=argv, root=ROOT)
    plot(report, output_path(args.out, ".png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
