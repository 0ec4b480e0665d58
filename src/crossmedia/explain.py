"""Visual comparisons of trained runs (DAFSN's "visual comparisons of results"):

* query → top-k image grids, relevant results framed green, irrelevant red (unknown: grey), for
  one run or two runs side by side;
* per-word attention heatmaps over the top result of each run whose model offers
  :meth:`~crossmedia.models.RetrievalModel.word_region_attention`.

A query is a dataset item id (its text is the query, relevance = shares a label with the item)
or free text, read by the same parser as ``crossmedia search`` (a query with no word the model
knows is refused) and judged by the same rule (:mod:`crossmedia.search.relevance`: a label is
named when its words occur in order within one phrase of the query, so colour and shape bind to
the same object; when the text names no label, results are framed grey).

Entry points: :func:`write_visual_comparison` (used by ``crossmedia explain`` and the demo) and
:func:`explain_query`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .errors import UserError
from .eval import encode_items, load_for_evaluation
from .io import atomic_path, write_json
from .models import attention_rows
from .viz.grids import GREEN, GREY, RED, _framed, _text_cell
from .viz.heatmaps import attention_heatmaps

__all__ = ["LoadedRun", "load_run", "explain_query", "write_visual_comparison", "comparison_grid"]


@dataclass
class LoadedRun:
    name: str
    model: object
    cfg: dict
    rd: object
    db_index: np.ndarray  # dataset indices of the database (protocol retrieval split)
    db_images: torch.Tensor = field(repr=False)  # encoded database images


def load_run(run_dir: str | Path, data_dir: str | Path | None = None, name: str | None = None) -> LoadedRun:
    """A trained run (best checkpoint, eval mode) on ``data_dir`` (default: the run's own data),
    with its database images (the protocol's retrieval split) encoded."""
    ck, rd = load_for_evaluation(run_dir, "best", data_root=data_dir)
    model, cfg = ck.model, ck.config
    db = np.asarray(rd.protocol["retrieval"])
    img, _ = encode_items(model, rd.tensors, db, desc=f"encoding {Path(run_dir).name} database")
    return LoadedRun(name or Path(run_dir).name, model, cfg, rd, db, img)


def _text_batch(run: "LoadedRun", text: str) -> dict:
    """The query parser of ``crossmedia search`` (:func:`crossmedia.search.query.text_batch`)."""
    from .search.query import text_batch

    return text_batch(run.model.info, run.rd.vocab, text)


def _resolve_query(rd, query: str) -> tuple[str, np.ndarray | None, int | None]:
    """(query text, query labels or None, dataset index or None)."""
    from .search.relevance import named_labels

    ds = rd.dataset
    ids = {str(it["id"]): i for i, it in enumerate(ds.items)}
    if query in ids:
        i = ids[query]
        text = ds.texts(rd.tensors.text_field)[i]
        text = text if isinstance(text, str) else " ".join(text)
        return text, ds.labels[i], i
    named = named_labels(ds.label_names, query)
    return query, (named.astype(ds.labels.dtype) if named.any() else None), None


@torch.no_grad()
def explain_query(run: LoadedRun, query: str, k: int = 6, rerank: int = 0) -> dict:
    """Top-k database images of ``run`` for a text ``query`` (an item id or free text); with
    ``rerank`` > 0 the first-stage top-``rerank`` are re-sorted by the model's fine-grained score."""
    from .search.relevance import FREE_TEXT_RULE, ITEM_RULE, relevant

    m, rd = run.model, run.rd
    text, qlabels, qi = _resolve_query(rd, query)
    batch = _text_batch(run, text)
    q = m.encode_text(batch)
    codec = m.codec()
    dist = np.asarray(codec.scorer(q, codec.encode(run.db_images)).distances(0, 1))[0]
    order = np.argsort(dist, kind="stable")
    scores = -dist
    if rerank and m.supports_fine_grained:
        top = order[:rerank]
        imgs = rd.tensors.batch(run.db_index[top])
        fg = m.fine_grained_scores(imgs, batch)[:, 0].cpu().numpy()
        top = top[np.argsort(-fg, kind="stable")]
        order = np.concatenate([top, order[rerank:]])
        scores = scores.copy()
        scores[top] = np.sort(fg)[::-1]
    hits = order[:k]
    ds = rd.dataset
    rel = relevant(qlabels, ds.labels[run.db_index[hits]])
    field = rd.tensors.text_field
    return {"run": run.name, "query": query, "text": text, "query_item": qi,
            "relevance": ITEM_RULE if qi is not None else
                         (FREE_TEXT_RULE if qlabels is not None else "unknown (the query names no label)"),
            "query_labels": [] if qlabels is None else [ds.label_names[j] for j in np.flatnonzero(qlabels)],
            "results": [{"id": ds.items[int(run.db_index[h])]["id"], "index": int(run.db_index[h]),
                         "score": float(scores[h]), "relevant": None if rel is None else bool(rel[j]),
                         "labels": [ds.label_names[c] for c in np.flatnonzero(ds.labels[run.db_index[h]])],
                         "matched_text_field": field, "matched_text": _show(ds.items[int(run.db_index[h])].get(field))}
                        for j, h in enumerate(hits)],
            "reranked": bool(rerank and m.supports_fine_grained)}


@torch.no_grad()
def _attention_png(run: LoadedRun, text: str, index: int, path: Path) -> Path | None:
    m, rd = run.model, run.rd
    if not m.supports_fine_grained:
        return None
    batch = {**rd.tensors.batch(np.array([index])), **_text_batch(run, text)}
    attn = m.word_region_attention(batch, batch)[0].cpu().numpy()
    tokens = batch["tokens"][0]
    words = [rd.vocab.words[int(t)] for t in tokens[attention_rows(tokens)]]  # one per row; <unk> has none
    image = Image.open(rd.dataset.root / rd.dataset.items[index]["image"]).convert("RGB")
    return attention_heatmaps(image, words, attn, m.region_grid, path,
                              title=f"{run.name}: attention of each query word over {rd.dataset.items[index]['id']}")


def _note(labels: list[str], query_labels: set[str]) -> str:
    """Under a result: the labels it shares with the query (what makes it relevant), else its labels."""
    shared = [n for n in labels if n in query_labels]
    return ("shares: " + ", ".join(shared)) if shared else ("labels: " + (", ".join(labels) or "none"))


def _show(text) -> str | None:
    return text if text is None or isinstance(text, str) else " ".join(map(str, text))


def comparison_grid(rows: Sequence[dict], path: str | Path, names: Sequence[str], cell: int = 88,
                    title: str | None = None) -> Path:
    """A PNG with one row per query: the query text, then each run's top-k images side by side.
    ``rows``: ``{"label": str, "query": str, "query_note": str (optional), "runs": [[(PIL image,
    relevant: bool | None, note: str (optional)), ...], ...]}``; notes (the labels) go under the cells."""
    from .viz.grids import NOTE_H, _draw_note, _split

    border, gap, label_h = 3, 14, 14
    k = max((len(r) for row in rows for r in row["runs"]), default=0)
    n = len(names)
    cw = cell + 2 * border
    w = 5 + cw + gap + n * (k * (cw + 2) + gap)
    title_h = 18 if title else 0
    head_h = 14
    notes = any(row.get("query_note") or any(_split(x)[2] for r in row["runs"] for x in r) for row in rows)
    row_h = cw + label_h + 4 + (NOTE_H if notes else 0)
    canvas = Image.new("RGB", (w, title_h + head_h + len(rows) * row_h + 6), (255, 255, 255))
    d = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    if title:
        d.text((5, 3), title, fill=(0, 0, 0), font=font)
    for j, name in enumerate(names):
        d.text((5 + cw + gap + j * (k * (cw + 2) + gap), title_h), name, fill=(0, 0, 0), font=font)
    for r_i, row in enumerate(rows):
        y = title_h + head_h + r_i * row_h
        d.text((5, y), row.get("label", ""), fill=(0, 0, 0), font=font)
        y += label_h
        canvas.paste(_framed(_text_cell(row["query"], cell), GREY, border), (5, y))
        _draw_note(d, 5, y + cw + 1, row.get("query_note"), cw)
        for j, results in enumerate(row["runs"]):
            x = 5 + cw + gap + j * (k * (cw + 2) + gap)
            for r in results:
                im, relevant, note = _split(r)
                colour = GREY if relevant is None else (GREEN if relevant else RED)
                canvas.paste(_framed(im.convert("RGB").resize((cell, cell), Image.NEAREST), colour, border), (x, y))
                _draw_note(d, x, y + cw + 1, note, cw)
                x += cw + 2
    path = Path(path)
    with atomic_path(path) as tmp:
        canvas.save(tmp, format="PNG")
    return path


def write_visual_comparison(run_a: str | Path, run_b: str | Path | None, data_dir: str | Path | None,
                            out_dir: str | Path, queries: Sequence[str], k: int = 6, rerank: int = 0,
                            attention: bool = True) -> dict:
    """Write ``OUT/comparison.png`` (each query's top-k images for run A and, when given, run B,
    side by side; green = relevant, red = not, grey = unknown), ``OUT/attention-<q>-<run>.png``
    (per-word attention heatmaps over each run's top result, for models that have word–region
    attention) and ``OUT/explain.json`` (the ranked results). Returns the JSON's content."""
    if not queries:
        raise UserError("--query: give at least one query (an item id or a text)")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    runs = [load_run(run_a, data_dir)]
    if run_b is not None:
        runs.append(load_run(run_b, data_dir))
        if runs[1].name == runs[0].name:
            runs[1].name += " (B)"
    # every query is parsed and searched before anything is written: a refused query leaves nothing
    results = [[explain_query(run, query, k=k, rerank=rerank) for run in runs] for query in queries]
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _write_comparison(out, runs, queries, results, k, rerank, attention)
    except BaseException:
        if created:
            import shutil

            shutil.rmtree(out, ignore_errors=True)
        raise


def _write_comparison(out: Path, runs, queries, results, k: int, rerank: int, attention: bool) -> dict:
    rows, report, files = [], [], []
    for qn, (query, per_query) in enumerate(zip(queries, results)):
        per_run = []
        entry = {"query": query, "runs": []}
        for run, res in zip(runs, per_query):
            ds = run.rd.dataset
            qnames = set(res["query_labels"]) if res["query_item"] is None else {
                ds.label_names[c] for c in np.flatnonzero(ds.labels[res["query_item"]])}
            per_run.append([(Image.open(ds.root / ds.items[h["index"]]["image"]), h["relevant"], _note(h["labels"], qnames))
                            for h in res["results"]])
            if attention and res["results"]:
                safe = "".join(ch if ch.isalnum() else "_" for ch in run.name)
                png = _attention_png(run, res["text"], res["results"][0]["index"], out / f"attention-q{qn}-{safe}.png")
                if png is not None:
                    res["attention_png"] = str(png)
                    files.append(str(png))
            entry["runs"].append(res)
        rels = [[r[1] for r in pr if r[1] is not None] for pr in per_run]
        stats = "   ".join(f"{runs[j].name}: {sum(x)}/{len(x)} relevant" for j, x in enumerate(rels) if x)
        first = entry["runs"][0]
        text = first["text"]
        qlab = ", ".join(first["query_labels"]) if first["query_item"] is None else ", ".join(
            runs[0].rd.dataset.label_names[c] for c in np.flatnonzero(runs[0].rd.dataset.labels[first["query_item"]]))
        rows.append({"label": f"query {qn}: {query if query == text else 'item ' + query}   {stats}", "query": text,
                     "query_note": f"labels: {qlab}" if qlab else "labels: none named", "runs": per_run})
        report.append(entry)
    grid = comparison_grid(rows, out / "comparison.png", [r.name for r in runs],
                           title="top-%d images per query (green = relevant: shares a label with the query; red = not; "
                                 "grey = unknown; labels under each image)%s"
                                 % (k, f", fine-grained rerank of the top {rerank}" if rerank else ""))
    summary = {"comparison_png": str(grid), "attention_pngs": files, "k": k, "rerank": rerank,
               "runs": [{"name": r.name, "model": r.cfg["model"]["name"]} for r in runs], "queries": report}
    write_json(out / "explain.json", summary)
    return summary
