"""Where CMSL and DAFSN look: word → region attention of the icon benchmark's runs, per seed.

The icon scenes know every icon's box, so the attention of a word that names one icon of a scene
(a word of its name in the query's text — its tags, or its caption for a run trained on captions — in
no other icon's name there) can be checked against
it: a *hit* when the region the word attends to most lies in the icon's box
(:func:`crossmedia.eval.localization.icon_attention_localization`; chance = the share of the 7×7
grid's cells in the box). Reads the finished runs of ``benchmarks/icons.py`` (its ``--work``
folder; nothing is trained) and evaluates the test queries of each protocol::

    python benchmarks/icons_attention.py --work /tmp/icons-bench
    python benchmarks/icons_attention.py --work /tmp/icons-bench --variants dafsn_warmup,dafsn_entropy

``--variants`` adds the runs of ``benchmarks/icons_ablation.py``'s variants (its folders next to
the benchmark's, where they were trained for that protocol). ``--extra LABEL=FOLDER`` adds the
runs of any ``crossmedia bench quality`` output folder on the icon scenes (e.g. trained with
other settings or on the captions), for the protocol its cells were made under::

    python benchmarks/icons_attention.py --work /tmp/icons-bench --protocols default \
        --extra dafsn_label=/tmp/dafsn-captions-label

Writes ``<out>.md`` and ``.json``: hit rate, trials, chance and attention mass on the icon per
model and seed, the mAP@all the run reached, and whether any seed attends below chance.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import icons  # noqa: E402  (benchmarks/icons.py: folders)
import icons_ablation  # noqa: E402  (its variants and their folders)

from crossmedia.io import write_json, write_text  # noqa: E402

MODELS = ["cmsl", "dafsn"]  # the registered models with word-region attention


def evaluate_run(run: Path, split: str = "query") -> dict:
    import numpy as np

    from crossmedia.eval import load_for_evaluation
    from crossmedia.eval.localization import icon_attention_localization

    ck, rd = load_for_evaluation(run)
    return icon_attention_localization(ck.model, rd, np.asarray(rd.protocol[split]))


def markdown(report: dict) -> str:
    lines = ["# Word → icon attention on the icon scenes (the icon benchmark's runs)", "",
             f"{report['rule']}. Items: the test queries of each protocol; words checked: the words of the "
             "query's text (column \"text\": the field the run was trained on) that name exactly one icon of the "
             "scene; regions: EfficientNet-Lite0 7×7.", ""]
    for p in report["protocols"]:
        lines += [f"## Protocol `{p['protocol']}`", "",
                  "| model | text | seed | hit rate | chance | × chance | mass on icon | icon area | trials | mAP@all i→t / t→i |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        for r in p["runs"]:
            m = r.get("map_all") or {}
            lines.append(f"| {r['model']} | {r['text_field']} | {r['seed']} | {r['hit_rate']:.3f} | {r['chance']:.3f} | "
                         f"{r['hit_rate'] / r['chance']:.2f} | {r['mean_mass_on_icon']:.3f} | {r['mean_icon_area']:.3f} | "
                         f"{r['trials']} | " + (f"{m['image->text']:.4f} / {m['text->image']:.4f}" if m else "–") + " |")
        lines.append("")
        for model, s in p["summary"].items():
            lines.append(f"- {model}: hit rate {s['mean']:.3f} ± {s['std']:.3f} over seeds {s['seeds']}; "
                         + ("every seed above chance" if not s["below_chance"] else
                            f"seed(s) {s['below_chance']} at or below chance"))
        lines.append("")
    lines += [f"git {report['git_commit']}; {report['created']}; {report['machine']['cores']} CPU cores "
              f"({report['machine']['cpu']}); {report['wall_time_s']:.0f} s; `{report['command']}`.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", required=True, help="work folder of benchmarks/icons.py (its runs are read)")
    ap.add_argument("--protocols", default="default,novel-icons")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--variants", default="", help="icons_ablation.py variants whose runs to add "
                    f"(some of {', '.join(v for v, (m, _, _) in icons_ablation.VARIANTS.items() if m in MODELS)})")
    ap.add_argument("--extra", action="append", default=[], metavar="LABEL=FOLDER",
                    help="a `crossmedia bench quality` output folder on the icon scenes whose runs of --models to add "
                         "under LABEL (repeatable)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "icons-attention"),
                    help="results path without extension (.md and .json are written)")
    args = ap.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    variants = [v for v in args.variants.split(",") if v]
    bad = [v for v in variants if v not in icons_ablation.VARIANTS or icons_ablation.VARIANTS[v][0] not in MODELS]
    if bad:
        ap.error(f"--variants: unknown or without attention: {', '.join(bad)}")
    extras = []
    for spec in args.extra:
        label, sep, folder = spec.partition("=")
        if not sep or not label.strip() or not folder.strip():
            ap.error(f"--extra {spec!r}: expected LABEL=FOLDER")
        if not (Path(folder) / "cells").is_dir():
            print(f"error: --extra {spec}: {folder} has no cells/ folder; expected the --out of `crossmedia bench quality`",
                  file=sys.stderr)
            return 2
        extras.append((label.strip(), Path(folder)))
    import statistics

    import torch

    from crossmedia.data import Dataset
    from crossmedia.errors import UserError
    from crossmedia.seed import git_commit, machine_info

    torch.set_num_threads(args.threads)
    work = Path(args.work)
    root = work / "data-scenes"
    try:
        Dataset.load(root, check_files=False)
    except Exception as e:  # noqa: BLE001 - any unreadable folder: one line, exit 2
        print(f"error: --work {work}: no icon-scene data at {root} ({e}); run benchmarks/icons.py first", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    report = {"bench": "icons-attention", "protocols": [], "machine": machine_info(), "threads": args.threads,
              "command": "python benchmarks/icons_attention.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    try:
        for protocol in [p for p in args.protocols.split(",") if p]:
            bench = icons.bench_dir(argparse.Namespace(work=str(work)), "scenes", protocol, root)
            runs = []
            sources = [(m, bench, m) for m in models]
            # an ablation variant: its own folder, only where it was trained for this protocol
            sources += [(v, icons_ablation.variant_dir(bench, v), icons_ablation.VARIANTS[v][0]) for v in variants]
            # another bench quality folder: its runs made under this protocol
            sources += [(label, folder, m) for label, folder in extras for m in models]
            for label, folder, model in sources:
                for cell in sorted((folder / "cells").glob(f"{model}-32b-seed*.json")):
                    c = json.loads(cell.read_text(encoding="utf-8"))
                    if c["protocol"]["name"] != protocol:
                        continue
                    res = evaluate_run(Path(c["run"]))
                    report["rule"] = res.pop("rule")
                    runs.append({"model": label, "seed": c["seed"], **res,
                                 "map_all": c["codes"]["native"]["map_all"], "run": c["run"]})
                    print(f"{protocol} {label} seed {c['seed']}: hit {res['hit_rate']:.3f} (chance {res['chance']:.3f}, "
                          f"{res['trials']} trials)", flush=True)
            if not runs:
                raise UserError(f"{bench}: no finished runs of {args.models}; run benchmarks/icons.py first")
            summary = {}
            for model in dict.fromkeys(r["model"] for r in runs):
                rs = [r for r in runs if r["model"] == model]
                hs = [r["hit_rate"] for r in rs]
                summary[model] = {"mean": statistics.fmean(hs), "std": statistics.stdev(hs) if len(hs) > 1 else 0.0,
                                  "seeds": [r["seed"] for r in rs],
                                  "below_chance": [r["seed"] for r in rs if r["hit_rate"] <= r["chance"]]}
            report["protocols"].append({"protocol": protocol, "bench": str(bench), "runs": runs, "summary": summary})
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    report.update({"git_commit": git_commit(), "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                   "wall_time_s": round(time.perf_counter() - t0, 1), "loadavg_end": round(os.getloadavg()[0], 2)})
    write_json(Path(args.out + ".json"), report)
    write_text(Path(args.out + ".md"), markdown(report))
    print(f"wrote {args.out}.md", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
