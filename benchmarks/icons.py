"""Icon-scene benchmark: every registered model on real emoji artwork with user-like tags.

One command builds the data from the npm emoji packages (docs/datasets-emoji.md), extracts
EfficientNet-Lite0 features (global + 7×7 regions), trains and evaluates every model with
``crossmedia bench quality`` (32 bits, tags as text, features as images) and writes
``benchmarks/results/icons.md`` and ``.json`` with a random-ranking row and tag-overlap rows
per protocol::

    python benchmarks/icons.py --src /path/to/npm-emoji --work /tmp/icons-bench            # full
    python benchmarks/icons.py --src /path/to/npm-emoji --work /tmp/icons-bench --quick    # ≤ 15 min size

Parts: ``scenes`` (icon scenes, protocols ``default`` and ``novel-icons``), ``icons`` (the
single-icon set with subgroup labels, ``default``) and ``scenes-zh`` (icon scenes with Chinese
names and keywords, ``default``); not run unless asked for (``--parts``): ``scenes-captions``
(the same scenes and features, the models reading the scenes' captions instead of the tags).

Interrupt and resume: run the same command again. Data whose recorded ``source`` matches what
the run wants is kept (generated and prepared datasets are written atomically; otherwise they are
regenerated), an interrupted feature extraction resumes from its last finished chunk, finished
bench cells are kept (``bench-<part>-<protocol>-<data fingerprint>/cells/``; the fingerprint is
that of the dataset's ``source``, so cells of other data are never reused) and an interrupted
training resumes from its last checkpoint. ``--work/sessions.json`` adds up the wall time of
every session; the results record both that total and the sessions. Progress: one line per
cell with the count of finished cells over the whole plan, the elapsed time and an estimate of
the time left (per-model mean cell time so far: training + evaluation as the cells record it).

Tag-overlap rows rank the retrieval items by the number of (lower-cased) words they share with
the query item, ties broken as the bench breaks them, for both directions alike: on the users'
tags (what the models are given as text; for image queries too, which no model can do), and —
the **oracle**, where the data knows them (icon scenes) — on the noise-free keywords of the
icons actually in each scene (``true_tags``: before words were dropped and wrong ones added),
an upper reference for what the words carry; "headroom" and "models reaching the oracle" are
measured against it. Random: the expected mAP@all of a random ranking (the bench's figure).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from crossmedia.io import write_json, write_text  # noqa: E402

MODELS = ["cmsl", "cdq", "dcmh", "acmr", "dscmr", "twotower", "dafsn"]
# Training settings: those of the validation selection (benchmarks/bench_cmsl_icons.py,
# benchmarks/results/cmsl_icons_selection.json): batch 64, lr 1e-3, the checkpoint chosen on the
# val split after every epoch, for every model. At 3,000 training scenes CMSL was within 0.005 of its
# best val score from epoch 11 on and CDQ within 0.01: 15 epochs. Trained for 30 (--epochs 30), CMSL's
# test mAP@all still rose by 0.011 / 0.016 while its val score moved 0.003
# (benchmarks/results/icons-epochs30.md). (The features preset's batch of 128 makes the pairwise
# local branches of CMSL and DAFSN ~4x slower per epoch.)
TRAIN = ["train.batch_size=64", "train.lr=1e-3", "train.val_every=1"]
SIZES = {
    "full": {"scenes": 6000, "seeds": 3, "epochs": 15},
    "quick": {"scenes": 600, "seeds": 1, "epochs": 10},
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def fingerprint(root: Path) -> str:
    """Short digest of a dataset's recorded ``source`` (generator, version, parameters, packages)."""
    from crossmedia.data import Dataset

    src = Dataset.load(root, check_files=False).meta.get("source", {})
    return hashlib.sha256(json.dumps(src, sort_keys=True).encode()).hexdigest()[:8]


def build_data(args, size: dict) -> dict[str, Path]:
    from crossmedia.data import Dataset
    from crossmedia.data.icon_scenes import SceneParams, make_icon_scenes
    from crossmedia.data.loaders import prepare_dataset
    from crossmedia.features.extract import extract_features

    work = Path(args.work)
    out: dict[str, Path] = {}
    for part in dict.fromkeys(DATA_OF.get(p, p) for p in args.parts):
        root = work / f"data-{part}"
        if part in ("scenes", "scenes-zh"):
            params = SceneParams(n=size["scenes"], seed=0, lang="zh" if part == "scenes-zh" else "en")
            want = params.to_dict()
            try:
                have = Dataset.load(root, check_files=False).meta.get("source", {})
                ok = {k: have.get(k) for k in want} == want
            except Exception:  # noqa: BLE001 - any unreadable folder is regenerated
                ok = False
            if not ok:
                # a partial feature extraction of other pictures must not be resumed (same ids, other images)
                shutil.rmtree(work / f".feats-{part}.partial", ignore_errors=True)
                log(f"generating {part}: {params.n} scenes (generator version {want['generator_version']}) into {root}")
                make_icon_scenes(args.src, root, params, overwrite=True)
            else:
                log(f"{part}: {root} kept (same generator version and parameters)")
        else:
            if not (root / "dataset.json").is_file():
                log(f"preparing the single-icon set into {root}")
                prepare_dataset("emoji", args.src, root, overwrite=True, lang="en", images="copy")
            else:
                log(f"{part}: {root} kept")
        ds = Dataset.load(root, check_files=False)
        if not ds.has_features("regions"):
            log(f"extracting EfficientNet-Lite0 features for {part} ({len(ds)} images; resumes an interrupted extraction)")
            extract_features(root, work / f"feats-{part}", backbone="efficientnet_lite0", overwrite=True,
                             attach=True, threads=args.threads, echo=log)
        out[part] = root
    for p in args.parts:  # parts that read another part's data
        out[p] = out[DATA_OF.get(p, p)]
    return out


PLAN = {"scenes": ["default", "novel-icons"], "icons": ["default"], "scenes-zh": ["default"],
        "scenes-captions": ["default"]}
#: parts that train on another part's data (same scenes and features, another text field)
DATA_OF = {"scenes-captions": "scenes"}
#: the text each part's models read (default: the users' tags)
TEXT_FIELD = {"scenes-captions": "caption"}


class Tracker:
    """Progress over the whole plan: finished cells (on disk, whichever session made them), the
    elapsed time of this session and an estimate of the time left from per-model mean cell times."""

    def __init__(self, args, size: dict, roots: dict[str, Path]):
        from crossmedia.bench.quality import cell_id

        self.t0 = time.perf_counter()
        self.items = []  # (bench folder, part, model, cell id)
        for part in args.parts:
            for protocol in PLAN[part]:
                out = bench_dir(args, part, protocol, roots[part])
                for seed in range(size["seeds"]):
                    for m in args.models:
                        self.items.append((out, part, m, cell_id(m, 32, seed)))
        self.start_done = len(self._done())

    def _done(self) -> dict:
        done = {}
        for out, part, m, cid in self.items:
            p = out / "cells" / f"{cid}.json"
            if p.is_file():
                try:
                    c = json.loads(p.read_text(encoding="utf-8"))
                except (OSError, json.JSONDecodeError):
                    continue
                evals = sum(v.get("eval_wall_s", 0.0) for v in c.get("codes", {}).values())
                done[(out, cid)] = (part, m, float(c.get("train_time_s") or 0.0) + evals)
        return done

    def line(self) -> str:
        done = self._done()
        per_model: dict[tuple, list] = {}
        for part, m, sec in done.values():
            per_model.setdefault((part, m), []).append(sec)
            per_model.setdefault(m, []).append(sec)
        left = 0.0
        unknown = 0
        for out, part, m, cid in self.items:
            if (out, cid) in done:
                continue
            t = per_model.get((part, m)) or per_model.get(m)
            if t:
                left += sum(t) / len(t)
            else:
                unknown += 1
        eta = f"about {_hms(left)} left" + (f" + {unknown} cell(s) of models not timed yet" if unknown else "")
        return (f"{len(done)}/{len(self.items)} cells done ({len(done) - self.start_done} this session), "
                f"elapsed {_hms(time.perf_counter() - self.t0)}, {eta}")

    def echo(self, msg: str) -> None:
        if "\n" in msg:  # the bench's summary table; the results files hold it
            return
        log(f"  {msg}  [{self.line()}]")


def _hms(sec: float) -> str:
    sec = int(round(sec))
    return f"{sec // 3600}h{sec % 3600 // 60:02d}m" if sec >= 3600 else f"{sec // 60}m{sec % 60:02d}s"


def bench_dir(args, part: str, protocol: str, root: Path) -> Path:
    return Path(args.work) / f"bench-{part}-{protocol}-{fingerprint(root)}"


class Sessions:
    """``--work/sessions.json``: start, end and wall time of every session of this benchmark."""

    def __init__(self, work: Path, command: str):
        self.path = work / "sessions.json"
        try:
            self.data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            self.data = {"sessions": []}
        self.t0 = time.perf_counter()
        self.data["sessions"].append({"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "wall_s": 0.0, "command": command})

    def update(self) -> None:
        from crossmedia.io import write_json

        cur = self.data["sessions"][-1]
        cur["wall_s"] = round(time.perf_counter() - self.t0, 1)
        cur["ended"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        write_json(self.path, self.data)

    @property
    def total_s(self) -> float:
        return round(sum(s["wall_s"] for s in self.data["sessions"]), 1)


def oracle(root: Path, protocol: str, tie: str, field: str = "tags") -> dict | None:
    """Tag overlap: score = number of shared (lower-cased) words of the items' ``field`` (``tags``
    or ``true_tags``); both directions alike. None when the items have no such field."""
    from crossmedia.data import Dataset
    from crossmedia.metrics.api import evaluate_ranking
    from crossmedia.metrics.scorers import InnerProductScorer

    ds = Dataset.load(root, check_files=False)
    p = ds.protocol(protocol)
    q, r = p["query"], p["retrieval"]
    if not all(field in it for it in ds.items):
        return None
    words = sorted({t.lower() for it in ds.items for t in it[field]})
    col = {w: j for j, w in enumerate(words)}
    X = np.zeros((len(ds), len(words)), dtype=np.float32)
    for i, it in enumerate(ds.items):
        for t in it[field]:
            X[i, col[t.lower()]] = 1.0
    Y = ds.labels
    res = evaluate_ranking(InnerProductScorer(X[q], X[r]), Y[q], Y[r], ["map_all"], tie=tie, seed=0)
    return {"map_all": float(res["map_all"]["value"]), "tie": tie, "field": field}


def bench_overrides(name: str, protocol: str, size: dict) -> list[str]:
    """The settings every model of part ``name`` trains with under ``protocol`` (``--set`` form)."""
    return [f"data.protocol={protocol}", f"data.text_field={TEXT_FIELD.get(name, 'tags')}",
            f"train.epochs={size['epochs']}", *TRAIN, "cmsl:model.graph.enabled=true", "cmsl:model.expansion.enabled=true"]


def run_part(args, name: str, root: Path, protocol: str, size: dict, tracker: Tracker) -> dict:
    from crossmedia.bench import run_quality_bench

    out = bench_dir(args, name, protocol, root)
    overrides = bench_overrides(name, protocol, size)
    log(f"bench {name} / {protocol}: {', '.join(args.models)}, 32 bits, {size['seeds']} seed(s)")
    rep = run_quality_bench(root, args.models, [32], list(range(size["seeds"])), out, overrides=overrides,
                            threads=args.threads, image_source="features", echo=tracker.echo,
                            code_commit=args.code_commit)
    tie = rep["convention"].get("tie", "index")
    tags = oracle(root, protocol, tie, "tags")
    # the oracle: noise-free keywords where the data has them (icon scenes), else the tags themselves
    # (the single-icon set, whose tags are the CLDR keywords)
    orc = oracle(root, protocol, tie, "true_tags") or tags
    rows = [r for r in rep["rows"] if r["codes"] == "native"]
    # real-valued models at the quantized models' bytes: their outputs composite-quantized after training
    same_bytes = [r for r in rep["rows"] if r["codes"] == "cq"]
    means = {r["model"]: {d: r[d]["mean"] for d in ("image->text", "text->image")} for r in rows}
    avg = {m: (v["image->text"] + v["text->image"]) / 2 for m, v in means.items()}
    return {"part": name, "protocol": protocol, "text_field": TEXT_FIELD.get(name, "tags"),
            "dataset": rep["dataset"]["name"], "queries": rep["queries"],
            "database": rep["database"], "protocol_summary": rep["protocol"], "random_ranking": rep["random_ranking"],
            "tag_overlap": tags, "oracle": orc, "rows": rows, "rows_cq": same_bytes, "convention": rep["convention"],
            "spread_best_worst": round(max(avg.values()) - min(avg.values()), 4) if avg else None,
            "models_reaching_oracle": [m for m, v in avg.items() if v >= orc["map_all"]],
            "bench_out": str(out), "data_fingerprint": fingerprint(root), "wall_time_s": rep["wall_time_s"]}


def _model_row(r: dict, name: str) -> str:
    from crossmedia.bench.quality import format_mean_std as f

    return (f"| {name} | {r['code_bytes_per_item']:g} | {f(r['image->text'])} | {f(r['text->image'])} | "
            f"{len(r['seeds'])} | {r['train_time_s']['mean']:.0f} |")


def _reference_rows(part: dict) -> list[str]:
    """The tag-overlap rows of one part's table: user tags (when an oracle on noise-free keywords
    exists beside them), then the oracle."""
    orc, rows = part["oracle"], []
    clean = orc.get("field") == "true_tags"
    if clean and part.get("tag_overlap"):
        v = part["tag_overlap"]["map_all"]
        rows.append(f"| tag overlap (user tags) | – | {v:.4f} | {v:.4f} | – | – |")
    what = "noise-free keywords" if clean else "tags"
    rows.append(f"| oracle: overlap of {what} | – | {orc['map_all']:.4f} | {orc['map_all']:.4f} | – | – |")
    return rows


def markdown(report: dict) -> str:
    lines = [f"# Icon scenes benchmark ({report['size']} size), mAP@all, 32 bits", ""]
    if report["size"] == "custom":
        lines += [f"**Custom size ({report['sizes']['scenes']} scenes, {report['sizes']['seeds']} seed(s), "
                  f"{report['sizes']['epochs']} epochs), not the full benchmark.**", ""]
    elif report["size"] != "full":
        lines += [f"**This is the `--quick` size ({report['sizes']['scenes']} scenes, {report['sizes']['seeds']} seed(s), "
                  f"{report['sizes']['epochs']} epochs), not the full benchmark.** The full size (6,000 scenes, 3 seeds) "
                  "was not run here.", ""]
    for part in report["parts"]:
        lines += [f"## {part['part']} — protocol `{part['protocol']}` ({part['dataset']})", "",
                  f"{part['queries']['count']} queries against {part['database']['count']} retrieval items. "
                  f"Rule: {part['protocol_summary'].get('rule', '')}"
                  + ("; text: the scenes' captions (the reference rows still compare tags)."
                     if part.get("text_field") == "caption" else ""), "",
                  "| model | bytes/item | image→text | text→image | seeds | train s |", "|---|---:|---:|---:|---:|---:|",
                  f"| random ranking | – | {part['random_ranking']:.4f} | {part['random_ranking']:.4f} | – | – |",
                  *_reference_rows(part)]
        for r in part["rows"]:
            lines.append(_model_row(r, r["model"]))
        cq = part.get("rows_cq") or []
        if cq:
            lines += ["", "Real-valued models at the same 4 bytes per item (their outputs composite-quantized after "
                          "training, 32 bits, AQD ranking):", "",
                      "| model | bytes/item | image→text | text→image | seeds | train s |", "|---|---:|---:|---:|---:|---:|",
                      *[_model_row(r, f"{r['model']} (cq)") for r in cq]]
        lines += ["", f"Spread best − worst model (mean of both directions): {part['spread_best_worst']}; models at or "
                      f"above the oracle: {', '.join(part['models_reaching_oracle']) or 'none'}.", ""]
    c = report["parts"][0]["convention"] if report["parts"] else {}
    lines += ["**Metric.** mAP@all over the whole ranking; relevant iff query and item share a label (a subgroup); "
              f"ties: {c.get('tie', 'index')}; mean ± sample std over seeds. Images: EfficientNet-Lite0 ImageNet features "
              "(global 1280-d + 7×7 regions); text: the scenes' user-like tags unless a part says otherwise (tokenizer recorded in each dataset).", "",
              f"Wall time {report['wall_time_s_all_sessions']:.0f} s over {len(report['sessions'])} session(s) "
              f"(this session {report['wall_time_s']:.0f} s) on {report['machine']['cores']} CPU cores ({report['machine']['cpu']}), "
              f"torch threads {report['threads']}, load average {report['machine']['loadavg_at_start']} at start, "
              f"{report['loadavg_end']} at the end (the cores were shared with other jobs). git {report['git_commit']}; "
              f"{report['created']}; `{report['command']}`.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", required=True, help="folder with the npm emoji packages")
    ap.add_argument("--work", required=True, help="work folder (data, features, runs; reused)")
    ap.add_argument("--quick", action="store_true", help="small size (600 scenes, 1 seed, 10 epochs)")
    ap.add_argument("--scenes", type=int, default=None, help="scenes per scene part (default: 6000, --quick 600)")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per model (default: 3, --quick 1)")
    ap.add_argument("--epochs", type=int, default=None, help="training epochs (default: 15, --quick 10)")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--parts", default="scenes,icons,scenes-zh")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "icons"),
                    help="results path without extension (.md and .json are written)")
    args = ap.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    args.parts = [p for p in args.parts.split(",") if p]
    bad = [p for p in args.parts if p not in PLAN]
    if bad or not args.parts:
        ap.error(f"--parts: unknown part(s) {', '.join(bad) or '(none)'}; expected some of {', '.join(PLAN)}")
    for k, lo, hi in (("scenes", 20, 1_000_000), ("seeds", 1, 20), ("epochs", 1, 10_000)):
        v = getattr(args, k)
        if v is not None and not lo <= v <= hi:
            ap.error(f"--{k}: expected {lo}..{hi}, got {v}")
    import torch

    from crossmedia.data.emoji import detect_route
    from crossmedia.errors import UserError
    from crossmedia.seed import git_commit, machine_info

    args.code_commit = git_commit()  # the code this process runs, whenever its benches start
    torch.set_num_threads(args.threads)
    try:
        detect_route(args.src)  # before anything is written
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    size_name = "quick" if args.quick else "full"
    size = {k: (getattr(args, k) if getattr(args, k) is not None else v) for k, v in SIZES[size_name].items()}
    if size != SIZES[size_name]:
        size_name = "custom"
    machine = machine_info()
    command = "python benchmarks/icons.py " + " ".join(sys.argv[1:] if argv is None else argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    sessions = Sessions(work, command)
    t0 = time.perf_counter()
    try:
        roots = build_data(args, size)
        sessions.update()
        tracker = Tracker(args, size, roots)
        log(f"plan: {len(tracker.items)} cells ({', '.join(args.parts)}; {len(args.models)} models, {size['seeds']} seed(s)); "
            f"{tracker.line()}")
        parts = []
        for part in args.parts:
            for protocol in PLAN[part]:
                parts.append(run_part(args, part, roots[part], protocol, size, tracker))
                sessions.update()
                report = {"bench": "icons", "size": size_name, "sizes": size, "parts": parts, "models": args.models,
                          "machine": machine, "threads": args.threads, "git_commit": args.code_commit,
                          "wall_time_s": round(time.perf_counter() - t0, 1),
                          "wall_time_s_all_sessions": sessions.total_s, "sessions": sessions.data["sessions"],
                          "loadavg_end": round(os.getloadavg()[0], 2), "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                          "command": command}
                write_json(Path(args.out + ".json"), report)
                write_text(Path(args.out + ".md"), markdown(report))
                log(f"wrote {args.out}.md ({part}/{protocol}); {tracker.line()}")
    except UserError as e:
        sessions.update()
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        sessions.update()
        log(f"interrupted after {_hms(time.perf_counter() - t0)}; run the same command again to resume "
            "(finished cells, data and features are kept)")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
