"""``crossmedia index build|add|remove|info|export-faiss`` and ``crossmedia search``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import UserError

#: the memory guard (crossmedia.guard) of the commands that encode items
_MEMORY = click.option("--max-memory-gb", type=float, default=None,
                       help="Memory guard: stop with an error past this many GiB (default: 80% of the machine's memory, "
                            "or $CROSSMEDIA_MAX_MEMORY_GB).")


def _guard(max_memory_gb, what: str):
    from ..guard import memory_guard

    return memory_guard(max_memory_gb, what, "--max-memory-gb")


@click.group("index")
def index_group() -> None:
    """Build and maintain a search index over a trained model's codes."""


@index_group.command("build")
@click.option("--run", "run_dir", required=True, type=click.Path(path_type=Path), help="Trained run directory.")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None, help="Dataset folder (default: the run's).")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Index folder to write.")
@click.option("--split", default="retrieval", show_default=True, help="Protocol split to index, or 'all'.")
@click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True)
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(1, 65536))
@click.option("--overwrite", is_flag=True, help="Replace an existing non-empty --out (as a new version, atomically).")
@_MEMORY
@click.option("--device", default="cpu", show_default=True, help="Where the model encodes: cpu, cuda or cuda:N.")
@click.option("--ray", "ray_address", default=None, is_flag=False, flag_value="local", metavar="[ADDRESS]",
              help="Encode in parallel with Ray Data on the cluster at ADDRESS (alone: start a local one; the 'ray' extra).")
@click.option("--ray-workers", default=2, show_default=True, type=click.IntRange(1, 4096),
              help="With --ray: encoder actors (one CPU each).")
def build_cmd(run_dir, data_dir, out, split, checkpoint, batch_size, overwrite, max_memory_gb, device, ray_address,
              ray_workers) -> None:
    """Encode the items of both modalities and write a versioned index folder."""
    from ..search import Index

    with _guard(max_memory_gb, "index build"):
        ix = Index.build(run_dir, data_dir, out, checkpoint=checkpoint, split=split, batch_size=batch_size,
                         overwrite=overwrite, device=device, ray=ray_address, ray_workers=ray_workers)
    i = ix.info()
    click.echo(f"indexed {i['items']} items ({ix.model_name}, {ix.code_kind} codes of {_code_sizes(i)}, "
               f"rerank {'yes' if i['rerank'] else 'no'}) into {ix.path}")
    enc = i.get("image_encoder")
    if enc is not None:
        click.echo(f"image queries: encoded by the index's {enc['backbone']} feature extractor" if enc.get("backbone") else
                   f"warning: image queries need feature vectors: {enc.get('why_not')}")


def _code_sizes(i: dict) -> str:
    """'4 bytes per image + 4 bytes per text' (each item is stored in both modalities)."""
    m = i["code_bytes_per_item_by_modality"]
    return f"{m['image']:g} bytes per image + {m['text']:g} bytes per text"


@index_group.command("add")
@click.argument("index_dir", type=click.Path(path_type=Path))
@click.option("--data", "data_dir", required=True, type=click.Path(path_type=Path), help="Dataset folder with the new items.")
@click.option("--split", default="all", show_default=True, help="'all' or a protocol split of --data.")
@_MEMORY
def add_cmd(index_dir, data_dir, split, max_memory_gb) -> None:
    """Encode the items of another dataset folder and append them (ids must be new); the new
    version goes live atomically (readers see the old or the new one, never a mix)."""
    from ..search import Index

    with _guard(max_memory_gb, "index add"):
        ix = Index.load(index_dir)
        n0 = len(ix)
        ix = ix.add(data_dir, split=split)
    click.echo(f"added {len(ix) - n0} items; {ix.path} now holds {len(ix)}")


@index_group.command("remove")
@click.argument("index_dir", type=click.Path(path_type=Path))
@click.argument("ids", nargs=-1)
@click.option("--ids-file", type=click.Path(dir_okay=False, path_type=Path), default=None, help="One id per line.")
@_MEMORY
def remove_cmd(index_dir, ids, ids_file, max_memory_gb) -> None:
    """Remove items by id (a new version, made live atomically)."""
    from ..search import Index

    ids = list(ids)
    if ids_file is not None:
        if not ids_file.is_file():
            raise UserError(f"--ids-file {ids_file}: not found")
        size = ids_file.stat().st_size
        if size > 1 << 30:
            raise UserError(f"--ids-file {ids_file}: {size} bytes; at most 1 GiB of ids")
        try:
            text = ids_file.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise UserError(f"--ids-file {ids_file}: not UTF-8 text; expected one id per line") from None
        ids += [line.strip() for line in text.splitlines() if line.strip()]
    if not ids:
        raise UserError("index remove: no ids given (pass IDS or --ids-file)")
    with _guard(max_memory_gb, "index remove"):
        ix = Index.load(index_dir).remove(ids)
    click.echo(f"removed {len(ids)} items; {ix.path} now holds {len(ix)}")


@index_group.command("info")
@click.argument("index_dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def info_cmd(index_dir, as_json) -> None:
    """Summarise an index (model, code kind, counts, sizes); verifies its checksums."""
    from ..search import Index

    i = Index.load(index_dir).info()
    if as_json:
        click.echo(json.dumps(i, indent=2))
        return
    m = i["model"]
    click.echo(f"index     {i['path']} (version {i['version'] or '-'}, format v{i['format_version']}, "
               f"created {i['created']})")
    click.echo(f"model     {m['name']} from {m['run']} ({m['checkpoint']}), fingerprint {m['fingerprint'][:12]}")
    click.echo(f"codes     {m['code_kind']}, {_code_sizes(i)}; engines: "
               f"{', '.join(i['engines'])}; rerank features: {'yes' if i['rerank'] else 'no'}")
    click.echo(f"items     {i['items']} from {(i.get('data') or {}).get('root')}; {len(i['updates'])} update(s)")
    click.echo(f"size      {i['bytes_on_disk'] / 1e6:.2f} MB on disk")


@index_group.command("export-faiss")
@click.argument("index_dir", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder for image.faiss / text.faiss.")
def export_faiss_cmd(index_dir, out) -> None:
    """Write FAISS indexes (same codes, same codebooks) for both modalities."""
    from ..search import Index

    for mod, p in Index.load(index_dir).export_faiss(out).items():
        click.echo(f"{mod}: {p}")


@click.command("search")
@click.argument("index_dir", type=click.Path(path_type=Path))
@click.option("--text", "text", default=None, help="Text query (searches the image items).")
@click.option("--image", "image", type=click.Path(path_type=Path), default=None, help="Image query (searches the text items).")
@click.option("-k", "k", default=10, show_default=True, type=click.IntRange(min=1),
              help="Number of results (at most the number of items).")
@click.option("--rerank", default=0, show_default=True, type=click.IntRange(min=0),
              help="Rerank the first-stage top-N with the model's fine-grained score (0 = off).")
@click.option("--engine", type=click.Choice(["aqd", "hamming", "float", "faiss"]), default=None,
              help="Default: aqd (quantized), hamming (binary), float (real-valued).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--device", default="cpu", show_default=True,
              help="Where the default engine scans: cpu, cuda (every visible GPU, items split into shards), cuda:N.")
@click.option("--full", is_flag=True, help="Print whole texts (default: cut to the terminal width).")
def search_cmd(index_dir, text, image, k, rerank, engine, as_json, device, full) -> None:
    """Search an index with a text or an image query. Each hit shows the text the index matched
    (its field named, e.g. "tags") and, when that is not the caption, the caption as context."""
    import shutil

    import numpy as np

    from ..search import Index
    from ..search.relevance import FREE_TEXT_RULE, named_labels

    if (text is None) == (image is None):
        raise UserError("search: give exactly one of --text or --image")
    if image is not None and not image.is_file():
        raise UserError(f"--image {image}: file not found")
    ix = Index.load(index_dir, device=device)
    hits = ix.search_text(text, k=k, rerank=rerank, engine=engine) if text is not None else \
        ix.search_image(image, k=k, rerank=rerank, engine=engine)
    label_names = sorted({name for it in ix.items for name in it.get("labels") or []})
    named = set(np.asarray(label_names)[named_labels(label_names, text)].tolist()) if text is not None else set()
    rows = []
    for h in hits:
        it = ix.item(h.id)
        rows.append({**h.to_dict(), "text": it.get("text"), "text_field": it.get("text_field"),
                     "caption": it.get("caption"), "image": it.get("image"), "labels": it.get("labels"),
                     "relevant": bool(named & set(it.get("labels") or [])) if named else None})
    score_kind = ix.score_kind(rerank)
    if as_json:
        click.echo(json.dumps({"query": {"text": text, "image": None if image is None else str(image)}, "k": k,
                               "rerank": rerank, "engine": engine or ix.default_engine(), "score": score_kind,
                               "matched_text_field": ix.text_field,
                               "relevance": {"rule": FREE_TEXT_RULE, "query_labels": sorted(named)} if named else None,
                               "hits": rows}, indent=2))
        return
    width = 10_000 if full else max(60, shutil.get_terminal_size((100, 20)).columns)
    what = "images" if text is not None else f"texts ({ix.text_field})"
    click.echo(f"results: {len(rows)} {what}; score = {score_kind}, higher is closer"
               + (f"\nR = relevant: carries a label the query names ({', '.join(sorted(named))}; colour and shape "
                  "bound within one phrase)" if named else ""))
    sw = max([len(f"{r['score']:.3f}") for r in rows] + [5])
    iw = max([len(str(r["id"])) for r in rows] + [2])
    head = f"{'rank':>4}  {'score':>{sw}}  {'R' if named else ''}{' ' if named else ''}{'id':<{iw}}  labels"
    click.echo(head)
    pad = " " * (4 + 2 + sw + 2 + (2 if named else 0))

    def cut(s: str) -> str:
        s = " ".join(str(s).split()) if not full else str(s)
        room = width - len(pad) - 1
        return s if full or len(s) <= room else s[: max(10, room - 1)] + "…"

    for r in rows:
        rel = ("R " if r["relevant"] else "- ") if named else ""
        click.echo(f"{r['rank']:>4}  {r['score']:>{sw}.3f}  {rel}{str(r['id']):<{iw}}  {cut(', '.join(r['labels'] or []))}")
        if r["text"]:
            click.echo(f"{pad}matched {r['text_field'] or 'text'}: {cut(r['text'])}")
        if r["caption"]:
            click.echo(f"{pad}caption (context): {cut(r['caption'])}")
        if r["image"] and text is not None:
            click.echo(f"{pad}image: {cut(_near(r['image']))}")


def _near(path: str) -> str:
    """A path relative to the working directory when it lies below it (shorter to read)."""
    import os

    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel
