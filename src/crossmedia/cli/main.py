"""The ``crossmedia`` command line.

Conventions for every subcommand: ``--help``; a user mistake (missing file, bad value,
malformed config) prints one line ``error: …`` naming the thing and what was expected, exits
with status 2, and leaves no partial output behind."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from ..errors import UserError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@click.version_option(package_name="crossmedia")
def cli(quiet: bool) -> None:
    """crossmedia: fine-grained cross-media (image <-> text) retrieval with compact learned codes."""
    from ..progress import set_quiet

    set_quiet(quiet)


# ---------------------------------------------------------------------------- data
@cli.group()
def data() -> None:
    """Make and inspect datasets."""


def _prob(name: str):
    def check(ctx, param, value):
        if value is not None and not 0.0 <= value <= 1.0:
            raise click.BadParameter(f"expected a probability in [0, 1], got {value}")
        return value

    return check


@data.command("synth")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output dataset folder.")
@click.option("--n", "n", default=10_000, show_default=True, type=click.IntRange(min=20), help="Number of scenes.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--p-drop", default=0.4, show_default=True, type=float, callback=_prob("p-drop"), help="Probability of dropping each true tag.")
@click.option("--p-noise", default=0.2, show_default=True, type=float, callback=_prob("p-noise"), help="Wrong tags added per true tag (rate).")
@click.option("--image-size", default=72, show_default=True, type=int, help="Image side in pixels (a multiple of 3).")
@click.option("--theme-strength", default=0.0, show_default=True, type=float, callback=_prob("theme-strength"),
              help="Probability that an object comes from the scene's theme (correlated words, as in real tag "
                   "collections); 0 = independent objects.")
@click.option("--n-query", type=click.IntRange(min=1), default=None, help="Query items (default 10%).")
@click.option("--n-train", type=click.IntRange(min=1), default=None, help="Train items (default 50%).")
@click.option("--n-val", type=click.IntRange(min=0), default=None, help="Val items (default 5%).")
@click.option("--overwrite", is_flag=True, help="Replace an existing non-empty output folder.")
def data_synth(out, n, seed, p_drop, p_noise, image_size, theme_strength, n_query, n_train, n_val, overwrite) -> None:
    """Generate the embedded synthetic scene dataset (PNG images, captions, noisy tags, labels)."""
    from ..data.info import format_summary, summarize
    from ..data.make_synth import make_synthetic_dataset

    ds = make_synthetic_dataset(out, n=n, seed=seed, p_drop=p_drop, p_noise=p_noise, image_size=image_size,
                                theme_strength=theme_strength, n_query=n_query, n_train=n_train, n_val=n_val, overwrite=overwrite)
    click.echo(format_summary(summarize(ds)))


@data.command("synth-icons")
@click.option("--src", required=True, type=click.Path(path_type=Path),
              help="Folder with the npm emoji packages (unpacked or .tgz) or the Debian files (e.g. /usr/share); "
                   "see docs/datasets-emoji.md.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output dataset folder.")
@click.option("--n", "n", default=6000, show_default=True, type=click.IntRange(min=20), help="Number of scenes.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--lang", type=click.Choice(["en", "zh", "ja", "de", "fr", "es"]), default="en", show_default=True,
              help="Language of the names (captions) and keywords (tags).")
@click.option("--styles", default=None,
              help="Artwork styles, comma-separated (default: google for the npm packages, noto for the Debian files); "
                   "two (google,twitter) render every scene twice and add the cross-style protocol.")
@click.option("--image-size", default=128, show_default=True, type=int, help="Scene side in pixels (128..512).")
@click.option("--min-icons", default=2, show_default=True, type=int)
@click.option("--max-icons", default=5, show_default=True, type=int)
@click.option("--theme-strength", default=0.6, show_default=True, type=float, callback=_prob("theme-strength"),
              help="Probability that an icon comes from the scene's theme group (co-occurring words and labels).")
@click.option("--novel-fraction", default=0.3, show_default=True, type=float,
              help="Share of the emoji in the novel pool (the novel-icons protocol's query/retrieval side).")
@click.option("--p-icon-untagged", default=0.25, show_default=True, type=float, callback=_prob("p-icon-untagged"),
              help="Tag noise (defaults = TagNoise's, calibrated; docs/datasets-emoji.md): probability that an icon gets no tag.")
@click.option("--p-name", default=0.6, show_default=True, type=float, callback=_prob("p-name"),
              help="Probability that the name of a tagged icon becomes a tag.")
@click.option("--p-keep", default=0.15, show_default=True, type=float, callback=_prob("p-keep"),
              help="Probability that a keyword of a tagged icon becomes a tag.")
@click.option("--wrong-rate", default=0.25, show_default=True, type=click.FloatRange(0, 5),
              help="Wrong tags per kept tag (Poisson mean).")
@click.option("--p-sparse", default=0.35, show_default=True, type=float, callback=_prob("p-sparse"),
              help="Probability that a scene keeps only 1-2 tags.")
@click.option("--overwrite", is_flag=True, help="Replace an existing non-empty output folder.")
def data_synth_icons(src, out, n, seed, lang, styles, image_size, min_icons, max_icons, theme_strength, novel_fraction,
                     p_icon_untagged, p_name, p_keep, wrong_rate, p_sparse, overwrite) -> None:
    """Generate icon scenes: 2-5 emoji on a cluttered background, subgroup labels, captions with
    spatial relations, noisy user-like tags; protocols default, novel-icons (and cross-style)."""
    from ..data.icon_scenes import SceneParams, TagNoise, make_icon_scenes
    from ..data.info import format_summary, summarize
    from ..data.loaders.emoji import parse_styles

    params = SceneParams(n=n, seed=seed, lang=lang, styles=parse_styles(styles, src), image_size=image_size,
                         min_icons=min_icons, max_icons=max_icons, theme_strength=theme_strength,
                         novel_fraction=novel_fraction,
                         noise=TagNoise(p_icon_untagged=p_icon_untagged, p_name=p_name, p_keep=p_keep, wrong_rate=wrong_rate,
                                        p_sparse=p_sparse))
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise UserError(f"{out}: output directory exists and is not empty (pass --overwrite to replace it)")
    ds = make_icon_scenes(src, out, params, overwrite=overwrite)
    click.echo(format_summary(summarize(ds)))


@data.command("shard")
@click.argument("root", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Shard folder to write.")
@click.option("--shard-size", default=1000, show_default=True, type=click.IntRange(1, 1_000_000), help="Items per shard.")
@click.option("--image-source", default="pixels", show_default=True, type=click.Choice(["pixels", "features"]),
              help="What the shards carry: the image files, or the precomputed global feature rows.")
@click.option("--overwrite", is_flag=True, help="Replace a folder holding other shards.")
def data_shard(root, out, shard_size, image_source, overwrite) -> None:
    """Write a dataset's images (or feature rows) as tar shards for `--set data.loader=shards`
    (docs/training-at-scale.md). Atomic per shard; an interrupted run continues where it stopped."""
    from ..data import Dataset
    from ..data.shards import write_shards

    ds = Dataset.load(root, check_files=image_source == "pixels")
    m = write_shards(ds, out, shard_size=shard_size, image_source=image_source, overwrite=overwrite,
                     echo=lambda line: click.echo(line, err=True))
    total = sum(e["bytes"] for e in m["shards"])
    click.echo(f"{out}: {len(m['shards'])} shards, {len(ds)} items, {total / 2**20:.1f} MiB")


@data.command("info")
@click.argument("root", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def data_info(root, as_json) -> None:
    """Summarise a dataset: counts, label frequencies, vocabulary sizes, protocol splits."""
    from ..data import Dataset
    from ..data.info import format_summary, summarize

    ds = Dataset.load(root)
    paths = [ds.root / it["image"] for it in ds.items if "image" in it]
    if paths:
        from ..data.loaders.base import unreadable_images
        from ..errors import DataError

        bad = unreadable_images(paths)
        if bad:
            i, why = bad[0]
            ids = [str(it["id"]) for it in ds.items if "image" in it]
            raise DataError(f"{paths[i]}: {why}; {len(bad)} of {len(paths)} images do not decode (first ids: "
                            f"{', '.join(repr(ids[j]) for j, _ in bad[:5])})")
    s = summarize(ds)
    click.echo(json.dumps(s, indent=2) if as_json else format_summary(s))


# ---------------------------------------------------------------------------- models
#: one line per registered model for `crossmedia models` (docs/models.md has the details)
MODEL_SUMMARIES = {
    "cmsl": ("composite", "CMSL (Liang et al., MM 2019): graph-expanded text, word-region attention, composite quantization"),
    "cdq": ("composite", "CDQ (Cao et al., AAAI 2017): deep composite quantization; CMSL without graph, expansion, local branch"),
    "dafsn": ("float", "DAFSN (Cheng & Gu, 2020): word-region attention similarity + adversarial loss"),
    "dcmh": ("sign bits", "DCMH (Jiang & Li, CVPR 2017): deep cross-modal hashing"),
    "twotower": ("sign bits", "Two-tower cross-modal hashing (DCMH-style), the simplest baseline"),
    "acmr": ("float", "ACMR (Wang et al., MM 2017): adversarial cross-modal retrieval, real-valued common space"),
    "dscmr": ("float", "DSCMR (Zhen et al., CVPR 2019): supervised common space, label and invariance losses"),
}


@cli.command("models")
@click.option("--options", "show_options", is_flag=True, help="Also list every model's default options.")
def models_cmd(show_options) -> None:
    """List the registered models: code kind, default code length, one-line description."""
    from ..models import get_model_class, list_models

    names = list_models()
    rows = []
    for name in names:
        cls = get_model_class(name)
        bits = cls.default_config.get("bits")
        codes, text = MODEL_SUMMARIES.get(name, ("", (cls.__doc__ or "").strip().split("\n")[0]))
        rows.append((name, codes, "-" if bits is None else str(bits), text))
    w = [max(len(r[i]) for r in rows + [("model", "codes", "bits", "")]) for i in range(3)]
    click.echo(f"{'model':<{w[0]}}  {'codes':<{w[1]}}  {'bits':>{w[2]}}  description")
    for r in rows:
        click.echo(f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:>{w[2]}}  {r[3]}")
    if not show_options:
        click.echo("\n(default options: crossmedia models --options; set one with --set model.KEY=VALUE)")
        return
    from ..models.registry import flatten_options

    for name in names:
        click.echo(f"\n{name}:")
        for k, v in flatten_options(get_model_class(name).default_config).items():
            click.echo(f"  {k} = {v}")


# ---------------------------------------------------------------------------- train
@cli.command("train")
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None, help="YAML or TOML config.")
@click.option("--model", default=None, help="Model name (see `crossmedia models`).")
@click.option("--data", "data_root", type=click.Path(path_type=Path), default=None,
              help="Dataset folder (with --resume: overrides the one the run recorded).")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run directory.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config value, e.g. train.epochs=5.")
@click.option("--bits", type=click.IntRange(min=1), default=None, help="Code length (sets model.bits).")
@click.option("--device", default=None, help="cpu, cuda or cuda:N (sets train.device).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--overwrite", is_flag=True, help="Start over in a non-empty --out.")
@click.option("--nproc", type=click.IntRange(min=1, max=64), default=1,
              help="Data-parallel processes on this machine (starts torchrun; see docs/training-at-scale.md).")
def train_cmd(config_file, model, data_root, out, overrides, bits, device, resume, overwrite, nproc) -> None:
    """Train a registered model; the run directory gets config, logs, checkpoints."""
    if nproc > 1:
        from ..train.launch import run_torchrun

        raise SystemExit(run_torchrun(nproc, sys.argv[1:]))
    from ..config import load_config_file, resolve_config
    from ..train import train

    if resume and (config_file or model or overrides or bits or device):
        raise UserError("--resume continues the run with its saved config; drop --config/--model/--set/--bits/--device")
    if device is not None:
        from ..config import check_device

        check_device(device, "--device")
    cfg = None
    if not resume:
        file_cfg = load_config_file(config_file) if config_file else None
        cfg = resolve_config(file_cfg, overrides, model__name=model, data__root=str(data_root) if data_root else None,
                             model__bits=bits, train__device=device)
    run = train(cfg, out, resume=resume, overwrite=overwrite, data_root=data_root if resume else None, echo=click.echo)
    if os.environ.get("RANK", "0") != "0":  # under torchrun only rank 0 reports
        return
    info = run.info()
    score = info.get("best_val_score")
    tcfg = run.load_config().get("train", {})
    metric, rule = tcfg.get("val_metric", "score"), tcfg.get("val_rule")
    click.echo(f"trained {info.get('model')} into {run.path}: best epoch {info.get('best_epoch')} of {info.get('epochs')}, "
               + (f"val {metric} {score:.4f} (selection rule {rule}), " if isinstance(score, (int, float)) else "")
               + f"{float(info.get('train_time_s') or 0):.1f} s")
    if info.get("still_improving"):
        click.echo(f"note: the validation score was still rising at the last epoch; more epochs may help "
                   f"(--set train.epochs={2 * int(info.get('epochs') or 1)})")


# ---------------------------------------------------------------------------- eval
@cli.command("eval")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--split", type=click.Choice(["test", "val"]), default="test", show_default=True,
              help="test = query vs retrieval; val = the model-selection folds of train.val_rule (labelled so).")
@click.option("--metrics", default=None, help="Comma-separated measures, e.g. map_all,map@100,p@10.")
@click.option("--tie", type=click.Choice(["index", "random", "expected"]), default=None, help="Tie policy.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, help="Output folder (default: RUN_DIR).")
@click.option("--data", "data_root", type=click.Path(path_type=Path), default=None,
              help="Dataset folder (default: the one the run recorded, found relative to the run or by absolute path).")
@click.option("--codes", type=click.Choice(["native", "sign", "cq", "pq", "float"]), default="native", show_default=True,
              help="native: the model's own codec; sign / cq / pq: its outputs binarised, composite- or product-quantized "
                   "(fitted on the train split) at model.bits; float: no codes, the float32 outputs compared as the model "
                   "trains them (what its codes cost). Written to results_CODES.json.")
@click.option("--database", type=click.Choice(["retrieval", "unseen", "train"]), default="retrieval", show_default=True,
              help="Test split only: which retrieval items the queries rank. retrieval: all (the protocol's test); "
                   "unseen: those outside train and val, never seen in training or model selection; train: those the "
                   "model trained on. Written to results_DATABASE.json.")
def eval_cmd(run_dir, split, metrics, tie, out, data_root, codes, database) -> None:
    """Evaluate a trained run in both directions; writes results.json and results.md."""
    from ..eval.report import evaluate_run

    path = evaluate_run(run_dir, split=split, metrics=metrics, tie=tie, out=out, echo=click.echo, codes=codes,
                        data_root=data_root, database=database)
    click.echo(f"wrote {path}")


# ---------------------------------------------------------------------------- demo
@cli.command("demo")
@click.option("--quick", is_flag=True,
              help="2,000 scenes, 9 epochs per model: median 91 s on 2 idle CPU cores (benchmarks/bench_demo.py).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("demo_out"), show_default=True)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--threads", default=None, type=click.IntRange(min=1), help="torch threads (default: torch's choice).")
def demo_cmd(quick, out, seed, threads) -> None:
    """The whole pipeline on generated data: synthetic scenes → train CMSL and CDQ (validation
    mAP printed per epoch) → evaluate both directions → results table, results.json, pictures."""
    from ..demo import run_demo

    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    run_demo(out, quick=quick, seed=seed, threads=threads, echo=click.echo)


# ---------------------------------------------------------------------------- subcommands in other modules
def _register_plugins() -> None:
    """Commands defined in their own modules (one concept per module) are attached here."""
    import importlib

    for module, group, name in _PLUGINS:
        try:
            mod = importlib.import_module(f"crossmedia.cli.{module}")
        except ModuleNotFoundError as e:
            if e.name == f"crossmedia.cli.{module}":
                continue
            raise
        (data if group == "data" else cli).add_command(getattr(mod, name))


#: (module in crossmedia.cli, group "data" or "root", click command object name)
_PLUGINS: list[tuple[str, str, str]] = [
    ("prepare", "data", "prepare_cmd"),  # crossmedia data prepare NAME --src --out
    ("features", "root", "features_group"),  # crossmedia features extract ...
    ("index", "root", "index_group"),  # crossmedia index build|add|remove|info|export-faiss
    ("index", "root", "search_cmd"),  # crossmedia search INDEX --text/--image
    ("explain", "root", "explain_cmd"),  # crossmedia explain RUN --data DIR --query ...
    ("serve", "root", "serve_cmd"),  # crossmedia serve INDEX --host --port --workers
    ("bench", "root", "bench_group"),  # crossmedia bench quality ...
]
_register_plugins()


# ---------------------------------------------------------------------------- entry point
_NoArgsIsHelp = getattr(click.exceptions, "NoArgsIsHelpError", ())


def main(argv: list[str] | None = None) -> int:
    try:
        rv = cli.main(args=argv, prog_name="crossmedia", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except _NoArgsIsHelp as e:  # bare `crossmedia` / `crossmedia data`: show the help
        click.echo(e.format_message())
        return 0
    except click.UsageError as e:
        msg = e.format_message().replace("\n", " ")
        click.echo(f"error: {msg}", err=True)
        return 2
    except UserError as e:
        click.echo(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", err=True)
        return 2
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("interrupted (runs can be continued with `crossmedia train --resume`)", err=True)
        return 130


def entry() -> None:
    sys.exit(main())
