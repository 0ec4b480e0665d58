"""``crossmedia data prepare NAME --src PATH --out DIR``: turn a published dataset release into a
crossmedia dataset with its standard protocol(s) (see :mod:`crossmedia.data.loaders`)."""

from __future__ import annotations

from pathlib import Path

import click


def _names() -> list[str]:
    from ..data.loaders import list_preparers

    return list_preparers()


def _datasets_help() -> str:
    from ..data.loaders import get_preparer

    lines = []
    for name in _names():
        p = get_preparer(name)
        lines.append(f"{name}: {p.summary}. Reads: {p.formats}.")
    return "\n\n".join(lines)


@click.command("prepare", epilog="Datasets:\n\n" + _datasets_help())
@click.argument("name", type=click.Choice(_names()))
@click.option("--src", required=True, type=click.Path(path_type=Path),
              help="The release as downloaded: a folder (or a .mat / manifest file).")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output dataset folder.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the protocol splits.")
@click.option("--split", "split_file", type=click.Path(path_type=Path), default=None,
              help="A user-defined split: 'id,split' lines (CSV/TSV) or JSON; split = train, val, query, retrieval or test.")
@click.option("--split-name", default="user", show_default=True, help="Protocol name of --split.")
@click.option("--n-val", type=click.IntRange(min=0), default=None, help="Val items carved for model selection (dataset default).")
@click.option("--subset", type=click.Choice(["tc21", "tc10"]), default=None, help="nuswide: TC-21 (default) or TC-10.")
@click.option("--text-kind", type=click.Choice(["caption", "tags"]), default=None, help="folder: the text column is a caption (default) or tags.")
@click.option("--min-tag-count", type=click.IntRange(min=1), default=None, help="mirflickr25k: tag frequency threshold (standard 20).")
@click.option("--vocab-min-count", type=click.IntRange(min=1), default=1, show_default=True,
              help="Vocabulary (from the train split): minimum word count.")
@click.option("--images", type=click.Choice(["reference", "copy"]), default="reference", show_default=True,
              help="Refer to the release's image files by absolute path, or copy them into the dataset.")
@click.option("--nonstandard", is_flag=True,
              help="Accept a source whose counts differ from the published release (splits scaled, dataset marked non-standard).")
@click.option("--lang", type=click.Choice(["en", "zh", "ja", "de", "fr", "es"]), default=None,
              help="emoji: language of the CLDR names and keywords (default en).")
@click.option("--skin-tones", is_flag=True, help="emoji: include the single-tone skin variants.")
@click.option("--label-level", type=click.Choice(["subgroup", "group"]), default=None,
              help="emoji: labels are subgroups (98, default) or groups (9).")
@click.option("--styles", default=None,
              help="emoji: artwork styles, comma-separated: google (npm default), twitter; noto (Debian files, the default there).")
@click.option("--tokenizer", default=None,
              help="Text tokenizer: auto (default, detected from the text), words, ascii, jieba, chars[:N].")
@click.option("--encoding", default=None, metavar="ENCODING",
              help="Text encoding of the release's manifests and text files when not UTF-8 (e.g. latin-1); "
                   "without it, non-UTF-8 text is an error.")
@click.option("--overwrite", is_flag=True, help="Replace an existing non-empty output folder.")
def prepare_cmd(name, src, out, seed, split_file, split_name, n_val, subset, text_kind, min_tag_count, vocab_min_count,
                images, nonstandard, lang, skin_tones, label_level, styles, tokenizer, encoding, overwrite) -> None:
    """Prepare a benchmark dataset NAME from its published release into a crossmedia dataset
    (items, standard protocol files, text vocabulary and features from the train split)."""
    from ..data.info import format_summary, summarize
    from ..data.loaders import prepare_dataset

    ds = prepare_dataset(name, src, out, overwrite=overwrite, seed=seed, split_file=split_file, split_name=split_name,
                         n_val=n_val, subset=subset, text_kind=text_kind, min_tag_count=min_tag_count,
                         vocab_min_count=vocab_min_count, images=images, nonstandard=nonstandard, lang=lang,
                         skin_tones=skin_tones or None, label_level=label_level, styles=styles, tokenizer=tokenizer,
                         encoding=encoding)
    click.echo(format_summary(summarize(ds)))
    for w in ds.meta.get("warnings", []):
        click.echo(f"warning: {w}")
