"""``crossmedia bench quality``: every registered model × code length × seed under one protocol.

Each *cell* (model, bits, seed) trains the model on the protocol's ``train`` split (checkpoint
chosen on its ``val`` queries), then evaluates the protocol's ``query`` items against its
``retrieval`` items in both directions with mAP@all — in the model's native representation
and, for real-valued models, also after sign binarisation and after composite quantization at
the same number of bits (:mod:`crossmedia.eval.codes`). When the retrieval set holds the
training or val items (DCMH-style protocols), the native codes are also ranked against the
retrieval items outside train and val (the ``unseen`` database view, a column of its own;
cells made before it show "–"). A finished cell is written atomically
to ``OUT/cells/<model>-<bits>b-seed<seed>.json`` and skipped when the bench is run again with
the same settings (an interrupted training run is resumed from its last checkpoint), so adding
a model or a code length later only trains the new cells. A cell is trained under a lock
(``OUT/.locks/<cell>.lock``, ``flock``): benches sharing one ``--out`` leave a cell another is
training to it. A cell recorded before an option existed is read as the behaviour the code had
then (the model's ``absent_means``), never as today's default. The summary (mean ± sample std over
seeds, training time, bytes per item) goes to ``OUT/quality.md``, ``OUT/quality.json`` and
``OUT/quality.png``, with the protocol and the metric's conventions printed under the table.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import DEFAULTS, list_presets, load_config_file, preset_path, resolve_config
from ..data import Dataset
from ..data.loading import load_run_data
from ..errors import ConfigError, UserError
from ..eval.evaluator import evaluate, load_for_evaluation
from ..io import atomic_path, write_json, write_text
from ..models import list_models
from ..models.registry import flatten_options, get_model_class
from ..progress import progress
from ..seed import git_commit
from ..train import RunDir, train
from ..train.trainer import build_model
from .presets import preset_overrides
from .report import mean_std

DIRECTIONS = ("image->text", "text->image")
METRIC = "map_all"


def cell_id(model: str, bits: int, seed: int) -> str:
    return f"{model}-{bits}b-seed{seed}"


@dataclass
class QualityBench:
    data: Path
    models: list[str]
    bits: list[int]
    seeds: list[int]
    out: Path
    overrides: list[str] = field(default_factory=list)  # "key=value" or "model:key=value"
    threads: int | None = 1
    image_source: str = "auto"
    train_missing: bool = True  # False: summarise the finished cells only, list the others
    echo: object = print
    # the commit of the code the calling process runs, read when it started (a script that runs
    # several benches in one process); None: read when run() starts
    code_commit: str | None = None

    # ------------------------------------------------------------------ checks, before any work
    def __post_init__(self):
        self.data, self.out = Path(self.data), Path(self.out)
        known = list_models() + list_presets()
        unknown = [m for m in self.models if m not in known]
        if unknown:
            raise UserError(f"--models: unknown model or preset {', '.join(map(repr, unknown))} "
                            f"(registered: {', '.join(list_models())}; presets: {', '.join(list_presets())})")
        if not self.models:
            raise UserError("--models: no model given")
        if len(set(self.models)) != len(self.models):
            raise UserError(f"--models: a model is listed twice ({','.join(self.models)})")
        if not self.bits or any(b < 1 for b in self.bits):
            raise UserError(f"--bits: expected positive code lengths, got {self.bits}")
        if not self.seeds:
            raise UserError("--seeds: expected at least one seed")
        for o in self.overrides:
            scope, _, kv = o.rpartition(":") if ":" in o.split("=", 1)[0] else ("", "", o)
            if scope and scope not in known:
                raise UserError(f"--set {o!r}: {scope!r} is not a registered model ({', '.join(known)})")
        ds = Dataset.load(self.data, check_files=False)
        if self.image_source == "auto":
            has_pixels = bool(ds.items) and "image" in ds.items[0]
            self.image_source = "pixels" if has_pixels else "features"
            if not has_pixels and not ds.has_features("global"):
                raise UserError(f"--data {self.data}: items have neither images nor precomputed global image features")
        if self.image_source not in ("pixels", "features"):
            raise UserError(f"--image-source: expected auto, pixels or features, got {self.image_source!r}")
        self.kind = self.image_source

    def config(self, model: str, bits: int, seed: int) -> dict:
        """The bench's settings for a registered model (its per-kind preset, then the user's
        ``--set``); a shipped preset name (``dscmr-paper``) is run as its file says, with only the
        user's ``--set``, ``model.bits``, the seed and the data settings on top."""
        if preset_path(model) is not None:
            return self._config(load_config_file(model), [], model, bits, seed, model_name=None)
        return self._config(None, preset_overrides(self.kind, model), model, bits, seed, model_name=model)

    def _config(self, file_cfg, ov: list[str], model: str, bits: int, seed: int, model_name) -> dict:
        ov = list(ov)
        for o in self.overrides:
            head = o.split("=", 1)[0]
            if ":" in head:
                scope, _, kv = o.partition(":")
                if scope == model:
                    ov.append(kv)
            else:
                ov.append(o)
        ov += [f"model.bits={bits}", f"train.seed={seed}", f"data.image_source={self.image_source}"]
        if self.threads:
            ov.append(f"train.threads={self.threads}")
        return resolve_config(file_cfg, ov, model__name=model_name, data__root=str(self.data.resolve()))

    def preflight(self) -> None:
        """Build every model once on the data (catches a model that cannot run on it, e.g. one
        needing region features), so that nothing is trained before a mistake is reported."""
        rd = None
        for m in self.models:
            cfg = self.config(m, self.bits[0], self.seeds[0])
            if rd is None:
                rd = load_run_data(cfg["data"])
            try:
                build_model(cfg, rd)
            except ConfigError as e:
                raise UserError(f"--models: {m!r} cannot run on {self.data}: {e}") from None
        self._rd = rd

    # ------------------------------------------------------------------ cells
    def cell_path(self, cid: str) -> Path:
        return self.out / "cells" / f"{cid}.json"

    def done_cell(self, cid: str, cfg: dict) -> dict | None:
        p = self.cell_path(cid)
        if not p.is_file():
            return None
        cell = json.loads(p.read_text(encoding="utf-8"))
        here = (self._rd.dataset.name, _split_counts(self._rd.protocol.summary()))
        there = (cell.get("dataset", {}).get("name"), _split_counts(cell.get("protocol", {})))
        if here != there:
            raise UserError(f"{p}: this cell was computed on dataset {there[0]!r} with splits {there[1]}, "
                            f"but --data has {here[0]!r} with {here[1]}; use another --out")
        if not same_settings(cell.get("config", {}), cfg):
            raise UserError(f"{p}: this cell was computed with other settings than now "
                            f"({_diff(cell.get('config', {}), cfg)}); use another --out or delete the file")
        return cell

    def run_cell(self, model: str, bits: int, seed: int, cfg: dict) -> dict:
        cid = cell_id(model, bits, seed)
        run_dir = self.out / "runs" / cid
        rundir = RunDir(run_dir)
        resumable = rundir.checkpoint("last").is_file() and rundir.info().get("status") != "done"
        if rundir.checkpoint("best").is_file() and rundir.info().get("status") == "done":
            run = rundir  # trained, evaluation was interrupted
        elif resumable and same_settings(rundir.load_config(), cfg):
            run = train(None, run_dir, resume=True)
        else:
            run = train(cfg, run_dir, overwrite=True)
        info = run.info()
        ck, rd = load_for_evaluation(run.path)
        model_obj, cfg2 = ck.model, ck.config
        code_kind = model_obj.codec().kind
        views = ["native"] + (["sign", "cq"] if code_kind == "real" else [])
        evals = {}
        for v in views:
            t0 = time.perf_counter()
            res = evaluate(model_obj, rd, cfg2, split="test", metrics=[METRIC], codes=v)
            evals[v] = {
                "map_all": {d: float(res["results"][d][METRIC]["value"]) for d in DIRECTIONS},
                "code_bytes_per_item": res["code_bytes_per_item"], "ranking": res["ranking"],
                "eval_wall_s": round(time.perf_counter() - t0, 3),
            }
            conv = {d: {k: val for k, val in res["results"][d][METRIC].items() if k != "value"} for d in DIRECTIONS}
        unseen = None
        if _holds_seen_items(rd.protocol):  # the native codes against the retrieval items never seen
            u = evaluate(model_obj, rd, cfg2, split="test", metrics=[METRIC], codes="native", database="unseen")
            unseen = {"map_all": {d: float(u["results"][d][METRIC]["value"]) for d in DIRECTIONS},
                      "database": u["database"], "random_ranking": u["random_ranking"]["map_all"]}
        return {
            "cell": cid, "model": model, "bits": bits, "seed": seed, "code_kind": code_kind,
            "codes": evals, "unseen": unseen, "train_time_s": info.get("train_time_s"), "best_epoch": info.get("best_epoch"),
            "epochs": int(cfg["train"]["epochs"]), "best_val_score": info.get("best_val_score"),
            "val_selection": info.get("val_selection"),
            "queries": res["queries"], "database": res["database"], "relevance": res["relevance"],
            "random_ranking": res["random_ranking"]["map_all"], "convention": conv,
            "protocol": rd.protocol.summary(), "dataset": {"name": rd.dataset.name, "root": str(rd.dataset.root)},
            "git_commit": self.git_commit, "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "torch_threads": self.threads, "machine": info.get("machine"), "run": str(run.path), "config": cfg,
        }

    def run(self) -> dict:
        # the commit of the code this process runs: read once at the start, so that a cell
        # finishing after the working tree moved on is not labelled with the newer commit
        self.git_commit = self.code_commit or git_commit()
        self.preflight()
        t0 = time.perf_counter()
        # seed by seed over all models: an interrupted bench leaves a complete table with fewer seeds
        plan = [(m, b, s) for b in self.bits for s in self.seeds for m in self.models]
        cells, missing, busy, n_done, n_new = [], [], [], 0, 0
        for m, b, s in progress(plan, desc="bench cells", unit="cell"):
            cid = cell_id(m, b, s)
            cfg = self.config(m, b, s)
            cell = self.done_cell(cid, cfg)
            if cell is not None:
                n_done += 1
                self.echo(f"{cid}: done earlier, skipped")
            elif not self.train_missing:
                missing.append(cid)
                continue
            else:
                with _cell_lock(self.out / ".locks" / f"{cid}.lock") as mine:
                    cell = self.done_cell(cid, cfg) if mine else None  # finished by another process meanwhile?
                    if not mine:
                        self.echo(f"{cid}: being computed by another process on this --out, left to it")
                        missing.append(cid)
                        busy.append(cid)
                        continue
                    if cell is not None:
                        n_done += 1
                        self.echo(f"{cid}: done by another process, skipped")
                    else:
                        t1 = time.perf_counter()
                        cell = self.run_cell(m, b, s, cfg)
                        write_json(self.cell_path(cid), cell)
                        n_new += 1
                        nat = cell["codes"]["native"]["map_all"]
                        self.echo(f"{cid}: i->t {nat['image->text']:.4f}  t->i {nat['text->image']:.4f}  "
                                  f"({time.perf_counter() - t1:.0f} s)")
            cells.append(cell)
            if n_new:  # keep the summary of what is finished on disk while the bench runs
                todo = [cell_id(*c) for c in plan[plan.index((m, b, s)) + 1:]]
                self.write(self.report(cells, time.perf_counter() - t0, n_done, n_new, todo))
        if not cells and busy:
            raise UserError(f"{self.out}: no finished cell to summarise; {', '.join(busy)} being computed by "
                            "another process (run again when it is done)")
        if not cells:
            raise UserError(f"{self.out}: no finished cell to summarise (run without --no-train first)")
        report = self.report(cells, wall_s=time.perf_counter() - t0, n_skipped=n_done, n_trained=n_new, missing=missing)
        self.write(report)
        self.echo(markdown(report))
        self.echo(f"wrote {self.out / 'quality.md'}, {self.out / 'quality.json'}, {self.out / 'quality.png'} "
                  f"({n_new} cells trained, {n_done} skipped)")
        return report

    # ------------------------------------------------------------------ summary
    def write(self, report: dict) -> None:
        write_json(self.out / "quality.json", report)
        write_text(self.out / "quality.md", markdown(report))
        plot(report, self.out / "quality.png")

    def report(self, cells: list[dict], wall_s: float, n_skipped: int, n_trained: int, missing=()) -> dict:
        first = cells[0]
        rows = []
        for m in self.models:
            for b in self.bits:
                group = [c for c in cells if c["model"] == m and c["bits"] == b]
                for view in ("native", "sign", "cq"):
                    vals = [c["codes"][view] for c in group if view in c["codes"]]
                    if not vals:
                        continue
                    row = {"model": m, "bits": b, "codes": view, "code_kind": group[0]["code_kind"],
                           "seeds": [c["seed"] for c in group if view in c["codes"]],
                           "code_bytes_per_item": vals[0]["code_bytes_per_item"],
                           "train_time_s": mean_std([c["train_time_s"] for c in group]),
                           "best_val_score": mean_std([c.get("best_val_score") for c in group]),
                           "ranking": vals[0]["ranking"]}
                    for d in DIRECTIONS:
                        row[d] = mean_std([v["map_all"][d] for v in vals])
                    unseen = [c["unseen"] for c in group if view == "native" and c.get("unseen")]
                    if unseen:
                        row["unseen"] = {d: mean_std([u["map_all"][d] for u in unseen]) for d in DIRECTIONS}
                    rows.append(row)
        return {
            "bench": "quality", "measure": "mAP@all", "convention": first["convention"]["image->text"],
            "relevance": first["relevance"], "queries": first["queries"], "database": first["database"],
            "random_ranking": first["random_ranking"], "protocol": first["protocol"], "dataset": first["dataset"],
            "unseen_database": next(({"database": c["unseen"]["database"], "random_ranking": c["unseen"]["random_ranking"]}
                                     for c in cells if c.get("unseen")), None),
            "image_source": self.image_source, "models": self.models, "bits": self.bits, "seeds": self.seeds,
            "overrides": self.overrides,
            "presets": {m: ([f"--config {m}"] if preset_path(m) else preset_overrides(self.kind, m)) for m in self.models},
            "rows": rows, "cells": [{k: v for k, v in c.items() if k not in ("config", "protocol", "convention")} for c in cells],
            "command": "crossmedia " + " ".join(shlex.quote(a) for a in sys.argv[1:])
            if Path(sys.argv[0]).name == "crossmedia" or Path(sys.argv[0]).parts[-2:] == ("crossmedia", "__main__.py")
            else None,  # the console script, or python -m crossmedia
            "machine": _machine(self.threads), "wall_time_s": round(wall_s, 1),
            "cells_trained_now": n_trained, "cells_skipped": n_skipped, "cells_missing": list(missing),
            "git_commit": first.get("git_commit"), "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }


def run_quality_bench(data, models, bits, seeds, out, **kw) -> dict:
    """Library entry point of ``crossmedia bench quality`` (see the module docstring)."""
    return QualityBench(Path(data), list(models), list(bits), list(seeds), Path(out), **kw).run()


@contextlib.contextmanager
def _cell_lock(path: Path) -> Iterator[bool]:
    """An exclusive, non-blocking lock on one cell while it is trained (``flock``: the system
    releases it when its process ends, however it ends). Yields False when another process holds
    it — two benches on one ``--out`` then share the cells instead of training one cell twice into
    the same run folder."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


def _comparable(cfg: dict) -> dict:
    """A config without the keys that do not change results (threads, device) or that may
    differ between machines (the dataset's folder: the dataset is compared by name and splits)."""
    out = json.loads(json.dumps(cfg))
    out.get("train", {}).pop("threads", None)
    out.get("train", {}).pop("device", None)
    out.get("data", {}).pop("root", None)
    if out.get("data", {}).get("tokenizer") == "auto":  # the default; cells made before the setting existed lack it
        out["data"].pop("tokenizer")
    return out


def same_settings(then: dict, now: dict) -> bool:
    """Whether a cell (or run) made with config ``then`` stands for one asked with ``now``: equal
    :func:`_comparable` configs, except that an option added to the code since — absent from
    ``then`` — is left out when ``now`` asks for the behaviour the code had before it existed:
    the value the model's ``absent_means`` gives it when its default has changed since, else its
    default (a model option: the model's default; a data / train / eval option:
    :data:`crossmedia.config.DEFAULTS`)."""
    a, b = _comparable(then), _comparable(now)
    if a == b:
        return True
    # (a section left empty, e.g. data without its root, is no option)
    fa, fb = ({k: v for k, v in flatten_options(c).items() if v != {}} for c in (a, b))
    try:
        cls = get_model_class(str(b.get("model", {}).get("name")))
    except ConfigError:
        return False
    earlier = {f"model.{k}": v for k, v in flatten_options(cls.default_config).items()}
    earlier.update({f"model.{k}": v for k, v in cls.absent_means.items()})
    earlier.update({k: v for k, v in flatten_options(DEFAULTS).items() if not k.startswith("model.")})
    added = {k for k in set(fb) - set(fa) if k in earlier and earlier[k] == fb[k]}
    return {k: v for k, v in fb.items() if k not in added} == fa


def _holds_seen_items(protocol) -> bool:
    """Whether the protocol's retrieval set holds train or val items (DCMH-style protocols do;
    Wikipedia's test pairs do not), so that its ``unseen`` view is a different database."""
    try:
        return len(protocol.test_database("unseen")) < len(protocol["retrieval"])
    except UserError:  # every retrieval item was seen
        return False


def _split_counts(protocol_summary: dict) -> dict:
    return {"name": protocol_summary.get("name"), "version": protocol_summary.get("version"),
            "seed": protocol_summary.get("seed"), "counts": protocol_summary.get("counts")}


def _diff(a: dict, b: dict) -> str:

    fa, fb = flatten_options(_comparable(a)), flatten_options(_comparable(b))
    keys = sorted(k for k in set(fa) | set(fb) if fa.get(k) != fb.get(k))
    return ", ".join(f"{k}: {fa.get(k)!r} then, {fb.get(k)!r} now" for k in keys[:4]) or "?"


def _machine(threads) -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.machine()} {os.cpu_count()} CPU cores, torch threads {threads}, no GPU used, "
            f"load average {load:.1f} at the end")


def format_mean_std(s: dict) -> str:
    """A seed statistic ({mean, std, n}) as a table cell: "mean ± std" over several seeds, the
    mean alone for one, "–" when there is none."""
    if s["mean"] is None:
        return "–"
    return f"{s['mean']:.4f} ± {s['std']:.4f}" if s["n"] > 1 else f"{s['mean']:.4f}"


def _bytes(x) -> str:
    return f"{int(x)}" if float(x) == int(x) else f"{x:g}"


def markdown(report: dict) -> str:
    unseen = report.get("unseen_database")
    lines = [f"# Retrieval quality: {report['dataset']['name']}, mAP@all", "",
             "| model | codes | bits | bytes/item | image→text | text→image | seeds | train s |"
             + (" unseen items: i→t / t→i |" if unseen else ""),
             "|---|---|---:|---:|---:|---:|---:|---:|" + ("---|" if unseen else "")]
    for r in report["rows"]:
        bits = r["bits"]
        if r["codes"] == "native" and r["code_kind"] == "real":
            dim = int(r["ranking"].get("dim", r["bits"]))
            bits = f"{32 * dim} ({dim}-d float32)"
        t = r["train_time_s"]
        t_s = f"{t['mean']:.0f}" if t["mean"] is not None else "–"
        lines.append(f"| {r['model']} | {r['codes']} | {bits} | {_bytes(r['code_bytes_per_item'])} | "
                     f"{format_mean_std(r['image->text'])} | {format_mean_std(r['text->image'])} | {len(r['seeds'])} | {t_s} |"
                     + ((" " + " / ".join(format_mean_std(r["unseen"][d]) for d in DIRECTIONS) + " |" if r.get("unseen")
                         else " – |") if unseen else ""))
    if report.get("cells_missing"):
        lines += ["", f"Not run (yet): {', '.join(report['cells_missing'])} — the same command without "
                  "`--no-train` trains them; finished cells are kept."]
    p, conv = report["protocol"], report["convention"]
    spec = conv.get("spec", conv)
    seeds = ", ".join(map(str, report["seeds"]))
    lines += [
        "",
        f"**Protocol.** Dataset `{report['dataset']['name']}`, protocol `{p.get('name')}` v{p.get('version')} "
        f"(split seed {p.get('seed')}): {report['queries']['count']} queries (split `{report['queries']['split']}`) "
        f"against {report['database']['count']} retrieval items (split `{report['database']['split']}`); "
        f"each model trained on the `train` split ({p.get('counts', {}).get('train')} items, image input: "
        f"{report['image_source']}); checkpoint chosen by "
        + _selection(report)
        + "; test queries evaluated once per run.",
        "",
        f"**Metric.** mAP@all ({spec.get('convention', 'AP over the whole ranking')}); "
        f"{report['relevance']}; ties: {spec.get('tie', '?')}; queries without a relevant item: "
        f"{spec.get('empty_query', '?')}. mean ± sample std (ddof 1) over the seeds finished of {seeds} (column seeds; a single number: one seed). "
        f"A random ranking scores {report['random_ranking']:.4f}.",
        "",
        *([f"**Unseen items.** The native codes' mAP@all with the same queries against "
           f"{unseen['database']['holds']} (`crossmedia eval RUN --database unseen`): the retrieval set above holds "
           f"the training items, which a collection indexed after training does not. A random ranking scores "
           f"{unseen['random_ranking']:.4f} there.", ""] if unseen else []),
        "**Codes.** `native`: the model's own codec (Hamming on sign codes for twotower/dcmh; composite-"
        "quantization codes with asymmetric distance for cmsl/cdq — inner products of float32 vectors when the "
        "selected checkpoint predates the codebooks; cosine of float32 vectors for dafsn and for acmr/dscmr, whose "
        "dimension is the row's bits). `sign`: the real-valued outputs binarised (x ≥ 0 → 1) at `bits` bits — "
        "outputs wider than `bits` are first projected onto their `bits` leading principal directions (fitted on "
        "the training split) —, Hamming distance. `cq`: composite quantization (bits/8 codebooks × 256 codewords) fitted "
        "on the training split's l2-normalised image and text embeddings, database quantized, queries "
        "continuous (AQD). bytes/item = stored code per database item. `train s`: training wall time incl. "
        "per-epoch validation, mean over seeds.",
        "",
        "Settings per model (then `model.bits`, `train.seed`): "
        + "; ".join(f"`{m}`: {' '.join(o) or 'defaults'}" for m, o in report["presets"].items())
        + (f"; user overrides: {' '.join(report['overrides'])}" if report["overrides"] else "") + ".",
        "",
        f"Machine: {report['machine']}. git {report['git_commit']}; {report['created']}"
        + (f"; `{report['command']}`" if report.get("command") else "") + ".",
    ]
    return "\n".join(lines) + "\n"


def _selection(report: dict) -> str:
    """The model-selection rule of the cells, as recorded by their runs."""
    rules = sorted({c.get("val_selection") or "not recorded (cell computed before val_rule existed: val queries vs "
                    "train items)" for c in report["cells"]})
    return " / ".join(rules)


def plot(report: dict, path: Path) -> None:
    """mAP@all against code length, one line per (model, codes), both directions; with a
    single code length, bars per (model, codes) instead."""
    import matplotlib

    matplotlib.use(os.environ.get("MPLBACKEND", "Agg"))
    import matplotlib.pyplot as plt

    if len({r["bits"] for r in report["rows"]}) == 1:
        _bars(report, path, plt)
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    series: dict[tuple, list] = {}
    for r in report["rows"]:
        series.setdefault((r["model"], r["codes"]), []).append(r)
    styles = {"native": "-", "sign": "--", "cq": ":"}
    for ax, d in zip(axes, DIRECTIONS):
        for i, ((m, c), rows) in enumerate(series.items()):
            rows = sorted(rows, key=lambda r: r["bits"])
            x = [r["bits"] for r in rows]
            y = [r[d]["mean"] for r in rows]
            e = [r[d]["std"] for r in rows]
            ax.errorbar(x, y, yerr=e, marker="o", ms=4, capsize=3, linestyle=styles.get(c, "-"),
                        color=f"C{report['models'].index(m) % 10}", label=f"{m} ({c})")
        ax.axhline(report["random_ranking"], color="grey", lw=0.8, ls="-.", label="random ranking")
        ax.set_xscale("log", base=2)
        ax.set_xticks(report["bits"], [str(b) for b in report["bits"]])
        ax.set_xlabel("bits per item")
        ax.set_title(d.replace("->", " → "))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mAP@all (mean ± std over seeds)")
    axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(f"{report['dataset']['name']}: retrieval quality by code length")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def _bars(report: dict, path: Path, plt) -> None:
    rows = report["rows"]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.75 * len(rows) + 2), 4.2))
    for k, d in enumerate(DIRECTIONS):
        ax.bar(x + (k - 0.5) * 0.38, [r[d]["mean"] for r in rows], 0.38, yerr=[r[d]["std"] for r in rows],
               capsize=2, label=d.replace("->", " → "), color=f"C{k}")
    ax.axhline(report["random_ranking"], color="grey", lw=0.8, ls="-.", label="random ranking")
    ax.set_xticks(x, [f"{r['model']}\n{r['codes']}" for r in rows], fontsize=8)
    ax.set_ylabel("mAP@all (mean ± std over seeds)")
    ax.set_title(f"{report['dataset']['name']}: {rows[0]['bits']} bits (native real-valued rows: float32 vectors)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
