"""Evaluation: encode the query and database items of a split with a trained model, rank both
directions (image→text, text→image) with the model's scorer, and compute the requested
measures of :mod:`crossmedia.metrics` with their conventions recorded next to the numbers.

Splits: ``test`` = the protocol's ``query`` items against its ``retrieval`` items; ``val`` =
the model-selection folds of ``train.val_rule`` (default ``heldout``: val queries against
held-out val items, never a training item; :meth:`Protocol.validation_folds`), used for model
selection only and labelled so.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..codecs import FloatCosineCodec, FloatIPCodec, SignCodec
from ..data.loading import RunData, load_run_data
from ..data.protocol import check_database_view
from ..errors import UserError
from ..metrics import evaluate_ranking, parse_metric_list, random_ranking_map, recall_at_k
from ..models import Checkpoint, load_checkpoint
from ..progress import progress
from .codes import CODE_VIEWS, code_view, needs_training_outputs

DIRECTIONS = ("image->text", "text->image")
RELEVANCE_RULE = "relevant iff query and item share at least one label ((Yq @ Yd.T) > 0)"


def load_for_evaluation(run_dir, which: str = "best", data_root=None, device="cpu") -> tuple[Checkpoint, "RunData"]:
    """(the run's checkpoint, loaded by :func:`crossmedia.models.load_checkpoint`; the run's
    dataset — or ``data_root`` — as tensors with the model's vocabulary)."""
    ck = load_checkpoint(run_dir, which, device)
    if ck.config is None:
        raise UserError(f"{ck.path}: holds no run config; evaluate a run directory's checkpoint")
    from ..train.rundir import RunDir  # train imports eval (validation): import here

    data_cfg = dict(ck.config["data"])
    run = RunDir(run_dir)
    if run.config_path.is_file():  # a run directory: its dataset is found relative to it or by absolute path
        data_cfg["root"] = run.data_root(data_root, ck.config)
    elif data_root is not None:
        data_cfg["root"] = str(data_root)
    return ck, load_run_data(data_cfg, vocab_words=list(ck.model.info.vocab))


@torch.no_grad()
def encode_items(model, tensors, indices, batch_size: int = 256, device="cpu", desc: str = "encoding") -> tuple[torch.Tensor, torch.Tensor]:
    """Continuous image and text representations of ``indices`` (model in eval mode)."""
    was_training = model.training
    model.eval()
    imgs, txts = [], []
    indices = np.asarray(indices)
    for s in progress(range(0, len(indices), batch_size), desc=desc, unit="batch"):
        b = tensors.batch(indices[s : s + batch_size], device)
        imgs.append(model.encode_image(b).cpu())
        txts.append(model.encode_text(b).cpu())
    model.train(was_training)
    return torch.cat(imgs), torch.cat(txts)


def split_indices(protocol, split: str, database: str = "retrieval") -> tuple[np.ndarray, np.ndarray, str, str]:
    """Query and database indices of the ``test`` split, the database being ``database``'s view
    of the retrieval set (:meth:`Protocol.test_database`; the val split has folds: use
    :meth:`Protocol.validation_folds`)."""
    if split == "test":
        name = "retrieval" if database == "retrieval" else f"retrieval ({database})"
        return protocol["query"], protocol.test_database(database), "query", name
    if split == "val":
        raise UserError("--split val: this evaluation supports --split test only (the model-selection folds are "
                        "evaluated by `crossmedia eval RUN --split val`)")
    raise UserError(f"--split: expected 'test' or 'val', got {split!r}")


def check_database(split: str, database: str) -> None:
    """One-line errors for a database view that is unknown or asked of the val split (whose
    folds are train.val_rule's)."""
    check_database_view(database)
    if split == "val" and database != "retrieval":
        raise UserError(f"--database {database}: applies to the test split; --split val ranks the folds of train.val_rule")


def check_validation(rd, cfg) -> None:
    """One-line errors for a validation that cannot run: no val items, an instance-level metric."""
    if len(rd.protocol["val"]) == 0:
        raise UserError(f"protocol {rd.protocol.name!r} has no 'val' items; set train.val_every=0 to train without validation")
    metric = cfg["train"]["val_metric"]
    if metric.lower().startswith("recall@"):
        raise UserError(f"train.val_metric: {metric!r} is instance-level; use a label-based measure such as map_all")


def relevance_statistics(rd, rule: str) -> dict:
    """Mean fraction of the database relevant to a query, for the validation folds of ``rule``
    and for the test split: how closely model selection's task resembles the test's."""
    Y = np.asarray(rd.dataset.labels) > 0

    def frac(q, d):
        if len(q) == 0 or len(d) == 0:
            return None
        rel = (Y[q].astype(np.float32) @ Y[d].T.astype(np.float32)) > 0
        return float(rel.mean())

    folds = rd.protocol.validation_folds(rule)
    sizes = [len(q) for q, _ in folds]
    vals = [frac(q, d) for q, d in folds]
    val = None if None in vals else float(np.average(vals, weights=sizes))
    return {"val": {"relevant_fraction": val, "queries": int(sum(sizes)), "database": [int(len(d)) for _, d in folds]},
            "test": {"relevant_fraction": frac(rd.protocol["query"], rd.protocol["retrieval"]),
                     "queries": int(len(rd.protocol["query"])), "database": int(len(rd.protocol["retrieval"]))}}


def split_recall(metrics) -> tuple[list, tuple[int, ...]]:
    """Separate ``recall@K`` entries (instance-level, need a positives matrix) from the
    label-based ranking measures."""
    if isinstance(metrics, str):
        metrics = metrics.split(",")
    ranking, ks = [], []
    for m in metrics:
        name = getattr(m, "name", m)
        low = str(name).strip().lower()
        if low.startswith("recall@"):
            try:
                k = int(low.split("@", 1)[1])
                if k < 1:
                    raise ValueError
            except ValueError:
                raise UserError(f"--metrics: {name!r}: expected recall@K with K a positive integer") from None
            ks.append(k)
        else:
            ranking.append(m)
    return ranking, tuple(sorted(set(ks)))


def pair_positives(dataset, q_idx, d_idx) -> np.ndarray:
    """(Q, N) bool: database items paired with the query's own image/text — the same item, or
    an item with the same image (caption datasets: 5 captions per image share it)."""
    def key(i):
        it = dataset.items[int(i)]
        return it.get("image", it.get("feature_row", it["id"]))

    where: dict = {}
    for j, i in enumerate(d_idx):
        where.setdefault(key(i), []).append(j)
    pos = np.zeros((len(q_idx), len(d_idx)), dtype=bool)
    for r, i in enumerate(q_idx):
        pos[r, where.get(key(i), [])] = True
    return pos


def rank_both_directions(codec, img_q, txt_q, img_d, txt_d, Yq, Yd, metrics, *, tie="index",
                         empty_query="zero", seed=0, chunk_size=256, positives=None, recall_ks=()) -> dict:
    """Rank with ``codec`` (database items encoded, queries continuous) in both directions."""
    out = {}
    for direction, q, d in (("image->text", img_q, txt_d), ("text->image", txt_q, img_d)):
        scorer = codec.scorer(q, codec.encode(d))
        out[direction] = evaluate_ranking(scorer, Yq, Yd, metrics, tie=tie, empty_query=empty_query,
                                          seed=seed, chunk_size=chunk_size) if metrics else {}
        if recall_ks:
            r = recall_at_k(scorer, positives, ks=recall_ks, tie=tie, empty_query=empty_query, seed=seed,
                            chunk_size=chunk_size).to_dict()
            for k in recall_ks:
                out[direction][f"recall@{k}"] = {**r, "value": r["value"][f"R@{k}"]}
            out[direction]["medr"] = {**r, "value": r["value"]["medr"]}
            out[direction]["meanr"] = {**r, "value": r["value"]["meanr"]}
    return out


def validate(model, rd, cfg, device="cpu") -> dict:
    """Model-selection score: ``train.val_metric`` over the validation folds of
    ``train.val_rule`` (query-weighted mean over folds), mean of both directions. Never touches
    the protocol's test queries; under ``heldout`` never a training item either."""
    check_validation(rd, cfg)
    metric = cfg["train"]["val_metric"]
    folds = rd.protocol.validation_folds(cfg["train"]["val_rule"])
    items = np.unique(np.concatenate([np.concatenate([q, d]) for q, d in folds]))
    img, txt = encode_items(model, rd.tensors, items, device=device, desc="val items")
    where = {int(i): k for k, i in enumerate(items)}
    Y = rd.dataset.labels
    codec = model.codec()
    sums = {d: 0.0 for d in DIRECTIONS}
    n = 0
    for q_idx, d_idx in folds:
        qp = torch.as_tensor([where[int(i)] for i in q_idx], dtype=torch.long)
        dp = torch.as_tensor([where[int(i)] for i in d_idx], dtype=torch.long)
        res = rank_both_directions(codec, img[qp], txt[qp], img[dp], txt[dp], Y[q_idx], Y[d_idx], [metric],
                                   tie=cfg["eval"]["tie"], empty_query=cfg["eval"]["empty_query"],
                                   seed=int(cfg["train"]["seed"]))
        for d in DIRECTIONS:
            sums[d] += float(res[d][metric]["value"]) * len(q_idx)
        n += len(q_idx)
    i2t, t2i = sums["image->text"] / n, sums["text->image"] / n
    return {"val_i2t": i2t, "val_t2i": t2i, "val_score": (i2t + t2i) / 2}


def evaluate(model, rd, cfg, *, split: str = "test", metrics=None, tie=None, device="cpu", codes: str = "native",
             database: str = "retrieval") -> dict:
    """Results dict for ``split`` (see module docstring): per direction, per metric, each with
    its full convention; plus the expected mAP@all of a random ranking as a floor. ``codes``:
    ``native`` (the model's own codec), ``sign``, ``cq``, ``pq`` or ``float`` (see :mod:`crossmedia.eval.codes`).
    ``database`` (test split only): ``retrieval``, ``unseen`` or ``train`` — which retrieval
    items the queries rank (:meth:`~crossmedia.data.protocol.Protocol.test_database`).
    A metric that does not apply to the view (e.g. ``pr_radius`` without Hamming codes) is a
    :class:`UserError` raised before anything is encoded."""
    ec = cfg["eval"]
    metrics = list(metrics or ec["metrics"])
    tie = tie or ec["tie"]
    ranking_metrics, recall_ks = split_recall(metrics)
    if codes not in CODE_VIEWS:
        raise UserError(f"--codes: expected one of {', '.join(CODE_VIEWS)}, got {codes!r}")
    check_metrics_apply(ranking_metrics, code_kind(model, codes), codes)
    check_database(split, database)
    if split == "val":
        return _evaluate_val(model, rd, cfg, metrics=ranking_metrics, recall_ks=recall_ks, tie=tie, device=device,
                             codes=codes)
    q_idx, d_idx, q_name, d_name = split_indices(rd.protocol, split, database)
    t0 = time.perf_counter()
    img_q, txt_q = encode_items(model, rd.tensors, q_idx, device=device, desc=f"{split} queries")
    img_d, txt_d = encode_items(model, rd.tensors, d_idx, device=device, desc=f"{split} database")
    train_emb = None
    if needs_training_outputs(model, codes):
        train_emb = encode_items(model, rd.tensors, rd.protocol["train"], device=device, desc="train (quantizer)")
    ranker = code_view(model, codes, train_embeddings=train_emb, seed=int(cfg["train"]["seed"]))
    t_enc = time.perf_counter() - t0
    Y = rd.dataset.labels
    Yq, Yd = Y[q_idx], Y[d_idx]
    positives = None
    if recall_ks:
        positives = pair_positives(rd.dataset, q_idx, d_idx)
        if not positives.any():
            raise UserError("recall@K needs each query's paired item in the database (a protocol whose "
                            "query items are also retrieval items, as for COCO/Flickr30K); this one has none")
    t0 = time.perf_counter()
    res = rank_both_directions(ranker, img_q, txt_q, img_d, txt_d, Yq, Yd, ranking_metrics, tie=tie,
                               empty_query=ec["empty_query"], seed=int(cfg["train"]["seed"]),
                               chunk_size=int(ec["chunk_size"]), positives=positives, recall_ks=recall_ks)
    t_rank = time.perf_counter() - t0
    rnd = random_ranking_map(Yq, Yd, empty_query=ec["empty_query"])
    rnd_value = float(getattr(rnd, "value", rnd))
    return {
        "split": split if split == "test" else "val (model selection only — not a test result)",
        "queries": {"split": q_name, "count": int(len(q_idx))},
        "database": {"split": d_name, "count": int(len(d_idx)), "view": database,
                     "holds": rd.protocol.test_database_text(database)},
        "relevance": RELEVANCE_RULE,
        "ranking": {**ranker.spec(), "codes": codes,
                    **({"fitted_on": "training split's image and text outputs"} if train_emb is not None else {})},
        "code_bytes_per_item": ranker.code_bytes,
        "results": res,
        "random_ranking": {"map_all": rnd_value, "note": "expected mAP@all of a uniformly random ranking (same labels; same for both directions)"},
        "wall_time_s": {"encode": round(t_enc, 3), "rank_and_score": round(t_rank, 3)},
        "machine": {"device": str(device), "torch_threads": torch.get_num_threads()},
    }


def mean_over_folds(per_fold: list[dict], n_queries) -> dict:
    """Per-fold results ({direction: {measure: {"value": …, …}}}, one per validation fold) as
    one: each scalar value the mean over the folds weighted by their query counts, other values
    one per fold (the convention every validation result follows)."""
    weights = np.asarray(n_queries, dtype=float)
    res = {}
    for d in DIRECTIONS:
        res[d] = {}
        for m, first in per_fold[0][d].items():
            values = [f[d][m]["value"] for f in per_fold]
            scalar = all(isinstance(v, (int, float)) for v in values)
            res[d][m] = {**first, "value": float(np.average(values, weights=weights)) if scalar else values}
            if len(per_fold) > 1:
                res[d][m]["folds"] = "query-weighted mean over the folds" if scalar else "one value per fold"
    return res


def _evaluate_val(model, rd, cfg, *, metrics, recall_ks, tie, device, codes) -> dict:
    """The val split under ``train.val_rule``: each fold evaluated like the test split; scalar
    values averaged over the folds weighted by their query counts (other values: per fold)."""
    rule = cfg["train"]["val_rule"]
    if len(rd.protocol["val"]) == 0:
        raise UserError(f"protocol {rd.protocol.name!r} has no 'val' items")
    if recall_ks:
        raise UserError("--split val: recall@K needs paired items in the database; use a label-based measure")
    folds = rd.protocol.validation_folds(rule)
    train_emb = None
    if needs_training_outputs(model, codes):
        train_emb = encode_items(model, rd.tensors, rd.protocol["train"], device=device, desc="train (quantizer)")
    ranker = code_view(model, codes, train_embeddings=train_emb, seed=int(cfg["train"]["seed"]))
    Y, ec = rd.dataset.labels, cfg["eval"]
    per_fold = []
    for q_idx, d_idx in folds:
        img_q, txt_q = encode_items(model, rd.tensors, q_idx, device=device, desc="val queries")
        img_d, txt_d = encode_items(model, rd.tensors, d_idx, device=device, desc="val database")
        per_fold.append(rank_both_directions(ranker, img_q, txt_q, img_d, txt_d, Y[q_idx], Y[d_idx], metrics,
                                             tie=tie, empty_query=ec["empty_query"], seed=int(cfg["train"]["seed"]),
                                             chunk_size=int(ec["chunk_size"])))
    weights = np.asarray([len(q) for q, _ in folds], dtype=float)
    res = mean_over_folds(per_fold, weights)
    rnd = [float(getattr(r, "value", r)) for r in (random_ranking_map(Y[q], Y[d], empty_query=ec["empty_query"]) for q, d in folds)]
    return {
        "split": "val (model selection only — not a test result)",
        "val_rule": rd.protocol.validation_rule_text(rule),
        "queries": {"split": "val", "count": int(sum(len(q) for q, _ in folds))},
        "database": {"split": "val (held out)" if rule == "heldout" else "train",
                     "count": [int(len(d)) for _, d in folds]},
        "relevance": RELEVANCE_RULE, "ranking": {**ranker.spec(), "codes": codes},
        "code_bytes_per_item": ranker.code_bytes, "results": res,
        "random_ranking": {"map_all": float(np.average(rnd, weights=weights)), "note": "expected mAP@all of a uniformly random ranking"},
        "machine": {"device": str(device), "torch_threads": torch.get_num_threads()},
    }


#: measure kinds that only exist for a Hamming ranking (small integer distances, radii)
HAMMING_ONLY = ("pr_radius",)


def code_kind(model, codes: str) -> str:
    """"binary", "quantized" or "real": what view ``codes`` of ``model`` stores."""
    if codes == "native":
        return model.codec().kind
    if codes == "float":
        return model.float_codec().kind
    return {"sign": "binary", "cq": "quantized", "pq": "quantized"}[codes]


def check_metrics_apply(metrics, kind: str, codes: str = "native") -> None:
    """A :class:`UserError` naming the first measure that does not apply to ``kind`` codes."""
    try:
        specs = parse_metric_list(list(metrics)) if metrics else []
    except ValueError as e:
        raise UserError(f"--metrics: {e}") from None
    for m in specs:
        if m.kind in HAMMING_ONLY and kind != "binary":
            raise UserError(f"--metrics {m.name}: precision-recall by Hamming radius needs binary codes, but "
                            f"--codes {codes} ranks {kind} codes; drop it or use --codes sign")


def evaluate_representations(query_image, query_text, db_image, db_text, Yq, Yd, *, kind: str = "hamming",
                             metrics=("map_all",), tie: str = "index", empty_query: str = "zero",
                             seed: int = 0, chunk_size: int = 256) -> dict:
    """Evaluate precomputed codes or embeddings (any method's, e.g. a published baseline's) in
    both directions with the same measures and conventions as a trained model."""
    kinds = {"hamming": SignCodec, "inner_product": FloatIPCodec, "cosine": FloatCosineCodec}
    if kind not in kinds:
        raise UserError(f"kind: expected hamming, inner_product or cosine, got {kind!r}")
    ranker = kinds[kind](int(np.asarray(db_image).shape[1]))
    ranking_metrics, recall_ks = split_recall(list(metrics))
    check_metrics_apply(ranking_metrics, ranker.kind, kind)
    if recall_ks:
        raise UserError("recall@K needs item pairing; use evaluate() with a dataset")
    res = rank_both_directions(ranker, query_image, query_text, db_image, db_text, Yq, Yd, ranking_metrics,
                               tie=tie, empty_query=empty_query, seed=seed, chunk_size=chunk_size)
    rnd = random_ranking_map(Yq, Yd, empty_query=empty_query)
    return {"relevance": RELEVANCE_RULE, "ranking": {**ranker.spec(), "representation": "precomputed"}, "results": res,
            "random_ranking": {"map_all": float(getattr(rnd, "value", rnd))}}
