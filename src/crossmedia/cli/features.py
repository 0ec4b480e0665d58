"""``crossmedia features extract DATA --out FEATS``: image features from a pretrained backbone
(see :mod:`crossmedia.features`)."""

from __future__ import annotations

from pathlib import Path

import click

#: kept here (not imported from crossmedia.features.backbones) so that the CLI starts without torch
BACKBONE_NAMES = ("efficientnet_lite0", "inception_v3", "resnet50", "vgg19", "small_cnn")
DEFAULT_BACKBONE = "efficientnet_lite0"


@click.group("features")
def features_group() -> None:
    """Extract and inspect image features."""


@features_group.command("extract")
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--backbone", type=click.Choice(list(BACKBONE_NAMES)), default=DEFAULT_BACKBONE, show_default=True)
@click.option("--weights", default=None,
              help="Weights file (a state dict), or 'random'. Default: the installed ImageNet weights "
                   "(efficientnet_lite0) or the torchvision cache; nothing is downloaded.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output feature folder.")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1))
@click.option("--dtype", type=click.Choice(["float32", "float16"]), default="float32", show_default=True,
              help="Storage type of the features.")
@click.option("--no-regions", is_flag=True, help="Store global vectors only (no region grid).")
@click.option("--attach", is_flag=True,
              help="Also record the features in DATA/dataset.json (changes DATA). Without it DATA is left untouched "
                   "and --out is itself a dataset with the features.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="torch threads (default: torch's choice).")
@click.option("--overwrite", is_flag=True, help="Replace an existing non-empty --out.")
def extract_cmd(data, backbone, weights, out, batch_size, dtype, no_regions, attach, threads, overwrite) -> None:
    """Run BACKBONE over the images of dataset DATA; store global vectors and region grids with a
    header (backbone, weights hash, input size, preprocessing). The output folder is also a
    dataset (DATA's items, protocols and text with these features): train on it with
    `--data OUT --set data.image_source=features`. Resumable: run the same command
    again after an interruption. Images that fail to decode are skipped and listed in a report."""
    from ..features.extract import extract_features

    feats = extract_features(data, out, backbone=backbone, weights=weights, batch_size=batch_size, dtype=dtype,
                             regions=not no_regions, attach=attach, overwrite=overwrite, threads=threads,
                             echo=click.echo)
    h = feats.header
    click.echo(f"wrote {out}: {h['n_ok']}/{h['n_items']} items, {h['backbone']} {h['feature_dim']}-d global"
               + (f" + {h['n_regions']} regions" if h.get("regions") else "") + f" ({h['dtype']}), {h['wall_time_s']} s")


@features_group.command("info")
@click.argument("feats", type=click.Path(path_type=Path))
def info_cmd(feats) -> None:
    """Show a feature folder's header."""
    import json

    from ..features.store import load_features

    fs = load_features(feats)
    h = dict(fs.header)
    h["failed"] = len(h.get("failed", []))
    click.echo(json.dumps(h, indent=2))
