"""``crossmedia bench quality``: every model × code length × seed under one protocol, resumable
(see :mod:`crossmedia.bench.quality`)."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import UserError


@click.group("bench")
def bench_group() -> None:
    """Benchmarks run through the library."""


def _ints(option: str, text: str) -> list[int]:
    try:
        vals = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"{option} {text!r}: expected comma-separated integers") from None
    if not vals:
        raise UserError(f"{option}: expected at least one value")
    return vals


@bench_group.command("quality")
@click.option("--data", "data_root", required=True, type=click.Path(path_type=Path), help="Dataset folder.")
@click.option("--models", default="cmsl,cdq,dcmh,acmr,dscmr,twotower", show_default=True,
              help="Comma-separated registered model names (see `crossmedia models`).")
@click.option("--bits", default="16,32,64", show_default=True, help="Comma-separated code lengths.")
@click.option("--seeds", default="3", show_default=True,
              help="Number of seeds (N → seeds 0..N-1) or a comma-separated list of seeds (one seed S alone: 'S,').")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder (reused: finished cells are skipped).")
@click.option("--set", "overrides", multiple=True, metavar="[MODEL:]KEY=VALUE",
              help="Config override for every model, or for one with a MODEL: prefix (e.g. cmsl:train.lr=1e-3).")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(min=1), help="torch threads per run.")
@click.option("--image-source", type=click.Choice(["auto", "pixels", "features"]), default="auto", show_default=True,
              help="Images as pixels or as the dataset's precomputed global features (auto: pixels if the items have images).")
@click.option("--no-train", is_flag=True, help="Only summarise the finished cells (the others are listed as not run).")
def quality_cmd(data_root, models, bits, seeds, out, overrides, threads, image_source, no_train) -> None:
    """Train and evaluate every (model, bits, seed); write OUT/quality.md, .json and .png."""
    from ..bench import run_quality_bench

    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    if "," in seeds:
        seed_list = _ints("--seeds", seeds)
    else:
        n = _ints("--seeds", seeds)[0]
        if n < 1:
            raise UserError(f"--seeds {seeds}: expected a number of seeds ≥ 1 or a list of seeds")
        seed_list = list(range(n))
    run_quality_bench(data_root, [m.strip() for m in models.split(",") if m.strip()], _ints("--bits", bits),
                      seed_list, out, overrides=list(overrides), threads=threads, image_source=image_source,
                      train_missing=not no_train, echo=click.echo)
