"""Index: build from a trained run, search both ways with every engine, rerank, explain,
round trip, incremental updates, and the error paths (corruption, version, foreign model,
bad queries) — each a clear one-line error that leaves the index untouched."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from crossmedia.errors import DataError, UserError
from crossmedia.models import REGION_FEATURES
from crossmedia.search import Hit, Index
from crossmedia.search.format import sha256_file


def _files(path):
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_build_layout_and_info(cmsl_index):
    ix = cmsl_index
    info = ix.info()
    assert info["model"]["name"] == "cmsl" and info["model"]["code_kind"] == "quantized"
    assert info["rerank"] and info["engines"] == ["aqd", "faiss"]
    man = json.loads((ix.files / "manifest.json").read_text())
    assert man["format"] == "crossmedia-index" and man["format_version"] == 3
    assert set(man["files"]) >= {"items.jsonl", "model.pt", "image_db.npy", "text_db.npy", "codec_codebooks.npy",
                                 "regions.npy", "tokens.npy"}
    assert man["codec"]["name"] == "composite" and man["codec"]["params"]["bits"] == 16
    assert info["codec"] == "composite"
    for name, rec in man["files"].items():
        assert sha256_file(ix.files / name) == rec["sha256"]
    assert ix.arrays["image_db"].dtype == np.uint8 and ix.arrays["image_db"].shape == (len(ix), 2)  # 16 bits
    assert ix.arrays["regions"].dtype == np.float16
    # the indexed items are the protocol's retrieval split, with their records
    from crossmedia.data import Dataset

    ds = Dataset.load(man["data"]["root"])
    retrieval = ds.protocol()["retrieval"]
    assert ix.ids == [ds.items[i]["id"] for i in retrieval]
    rec = ix.item(ix.ids[0])
    assert set(rec) == {"id", "text", "text_field", "caption", "labels", "image"} and Image.open(rec["image"]).size == (24, 24)
    # the stored text is the one the model matched (tags), the caption is kept as context
    it = ds.items[retrieval[0]]
    assert rec["text_field"] == "tags" == ix.text_field and rec["text"] == " ".join(it["tags"])
    assert rec["caption"] == it["caption"]


def test_codes_match_model_encoding(cmsl_index, cmsl_run):
    """The stored codes are the model's own database codes, and the AQD scan ranks exactly like
    the model's codec scorer (the evaluator's ranking)."""
    from crossmedia.eval.evaluator import encode_items, load_for_evaluation

    ck, rd = load_for_evaluation(cmsl_run)
    model = ck.model
    codec = model.codec()
    idx = rd.protocol["retrieval"]
    img, txt = encode_items(model, rd.tensors, idx)
    np.testing.assert_array_equal(cmsl_index.arrays["image_db"], codec.encode(img))
    np.testing.assert_array_equal(cmsl_index.arrays["text_db"], codec.encode(txt))
    q_txt = txt[:3]
    want = -np.asarray(codec.scorer(q_txt, codec.encode(img)).distances(0, 3))  # the evaluator's AQD distances
    got = cmsl_index.engine("image").scores(q_txt.numpy())
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("engine", ["aqd", "faiss"])
def test_search_text_and_image(cmsl_index, engine):
    ix = cmsl_index
    hits = ix.search_text("red circle", k=5, engine=engine)
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5] and all(isinstance(h, Hit) and h.modality == "image" for h in hits)
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))
    img = ix.item(ix.ids[3])["image"]
    by_path = ix.search_image(img, k=4, engine=engine)
    assert all(h.modality == "text" for h in by_path)
    with Image.open(img) as im:
        pil = im.convert("RGB")
    assert ix.search_image(pil, k=4, engine=engine) == by_path
    assert ix.search_image(np.asarray(pil), k=4, engine=engine) == by_path


def test_engines_agree_on_index(cmsl_index):
    ix = cmsl_index
    for query in ("red circle", "blue square green star"):
        a = ix.search_text(query, k=8, engine="aqd")
        f = ix.search_text(query, k=8, engine="faiss")
        np.testing.assert_allclose([h.score for h in a], [h.score for h in f], atol=1e-4)


def test_rerank_uses_fine_grained_scores(cmsl_index):
    ix = cmsl_index
    model = ix.model
    n = len(ix)
    hits = ix.search_text("red circle", k=5, rerank=n)  # rerank everything = full fine-grained ranking
    from crossmedia.search.query import text_batch

    b = text_batch(model.info, ix._vocab, "red circle")
    with torch.no_grad():
        full = model.fine_grained_scores(
            {REGION_FEATURES: torch.from_numpy(np.asarray(ix.arrays["regions"], np.float32))}, b)[:, 0].numpy()
    best = np.sort(full)[::-1][:5]
    np.testing.assert_allclose([h.score for h in hits], best, rtol=1e-5, atol=1e-6)
    # partial rerank: the returned items are a reordering of the first stage's top-N
    first = [h.id for h in ix.search_text("red circle", k=20)]
    re = ix.search_text("red circle", k=5, rerank=20)
    assert {h.id for h in re} <= set(first)
    assert all(a.score >= b.score for a, b in zip(re, re[1:]))
    img_hits = ix.search_image(ix.item(ix.ids[0])["image"], k=3, rerank=15)
    assert len(img_hits) == 3 and img_hits[0].modality == "text"


def test_explain_word_region_attention(cmsl_index):
    words, attn, g = cmsl_index.explain("a red circle and a pencil", cmsl_index.ids[0])
    known = [w for w in ("red", "circle") if w in cmsl_index._vocab.index]
    assert words == known
    assert attn.shape == (len(words), g * g) and g == 3  # the small CNN's 3×3 grid
    np.testing.assert_allclose(attn.sum(1), 1.0, atol=1e-5)
    with pytest.raises(UserError, match="no item"):
        cmsl_index.explain("red", "nope")


@pytest.mark.parametrize("query, needle", [("", "empty"), ("   ", "empty"), ("zzzz qqqq", "vocabulary")])
def test_bad_text_queries(cmsl_index, query, needle):
    with pytest.raises(UserError, match=needle):
        cmsl_index.search_text(query)


def test_bad_image_queries_and_options(cmsl_index, tmp_path):
    with pytest.raises(UserError, match="not found"):
        cmsl_index.search_image(tmp_path / "nope.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(UserError, match="cannot decode"):
        cmsl_index.search_image(tmp_path / "bad.png")
    with pytest.raises(UserError, match="hamming"):
        cmsl_index.search_text("red", engine="hamming")
    with pytest.raises(UserError, match="no item"):
        cmsl_index.item("nope")


def test_round_trip_bit_identical(cmsl_index, tmp_path):
    copy = Index.load(cmsl_index.path).save(tmp_path / "copy")
    assert _files(copy.files) == _files(cmsl_index.files)
    again = Index.load(tmp_path / "copy")
    assert again.search_text("red circle", k=5) == cmsl_index.search_text("red circle", k=5)


def _copy(ix, dst):
    """A copy of the index's live version as a plain folder."""
    shutil.copytree(ix.files, dst)
    return dst


def test_corruption_and_version_errors_leave_files(cmsl_index, tmp_path):
    p = _copy(cmsl_index, tmp_path / "c")
    arr = bytearray((p / "image_db.npy").read_bytes())
    arr[-1] ^= 0xFF
    (p / "image_db.npy").write_bytes(bytes(arr))
    before = _files(p)
    with pytest.raises(DataError, match="checksum"):
        Index.load(p)
    assert _files(p)["image_db.npy"] == before["image_db.npy"]  # nothing rewritten
    (p / "image_db.npy").write_bytes((cmsl_index.files / "image_db.npy").read_bytes())
    (p / "text_db.npy").write_bytes(b"short")
    with pytest.raises(DataError, match="bytes"):
        Index.load(p)
    q = _copy(cmsl_index, tmp_path / "v")
    man = json.loads((q / "manifest.json").read_text())
    man["format_version"] = 99
    (q / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(DataError, match="manifest was changed"):
        Index.load(q)
    _reseal(q)
    with pytest.raises(DataError, match="format_version 99"):
        Index.load(q)
    (q / "manifest.json").write_text("{")
    _reseal(q)
    with pytest.raises(DataError, match="not valid JSON"):
        Index.load(q)
    with pytest.raises(DataError, match="not a crossmedia index"):
        Index.load(tmp_path)


def _reseal(folder):
    """Record the edited manifest's checksum in its sidecar (to reach the checks after it)."""
    (folder / "manifest.json.sha256").write_text(sha256_file(folder / "manifest.json") + "  manifest.json\n")


def test_build_refuses_to_overwrite(cmsl_index, cmsl_run, synth_data, twotower_run):
    before = _files(cmsl_index.path)
    with pytest.raises(UserError, match="not empty"):
        Index.build(twotower_run, synth_data, cmsl_index.path)
    assert _files(cmsl_index.path) == before


def test_index_of_another_model_is_refused(cmsl_index, cmsl_run, twotower_run):
    assert Index.load(cmsl_index.path, run=cmsl_run).fingerprint == cmsl_index.fingerprint
    with pytest.raises(UserError, match="different model"):
        Index.load(cmsl_index.path, run=twotower_run)


def test_add_and_remove_keep_ids_consistent(cmsl_index, synth_data, tmp_path):
    from crossmedia.data import Dataset

    p = _copy(cmsl_index, tmp_path / "u")
    ix = Index.load(p)
    n0 = len(ix)
    query_ids = [Dataset.load(synth_data).items[i]["id"] for i in Dataset.load(synth_data).protocol()["query"]]
    ix = ix.add(synth_data, split="query")
    assert len(ix) == n0 + len(query_ids) and ix.ids[n0:] == query_ids
    # a new item is found under its id with the same codes it would get in a fresh build
    fresh = Index.build(ix.manifest["model"]["run"], synth_data, tmp_path / "fresh", split="all")
    for key in ("image_db", "text_db", "tokens"):
        np.testing.assert_array_equal(np.asarray(ix.arrays[key])[n0:],
                                      np.asarray(fresh.arrays[key])[[fresh.ids.index(i) for i in query_ids]])
    with pytest.raises(UserError, match="already in the index"):
        ix.add(synth_data, split="query")
    removed = [ix.ids[0], query_ids[1]]
    keep_before = [i for i in ix.ids if i not in removed]
    rows_before = {i: np.asarray(ix.arrays["image_db"])[ix.ids.index(i)].copy() for i in keep_before}
    ix = ix.remove(removed)
    assert ix.ids == keep_before and len(ix) == n0 + len(query_ids) - 2
    for i in keep_before:
        np.testing.assert_array_equal(np.asarray(ix.arrays["image_db"])[ix.ids.index(i)], rows_before[i])
    assert all(h.id not in removed for h in ix.search_text("red circle", k=len(ix)))
    before = _files(p)
    with pytest.raises(UserError, match="unknown item"):
        ix.remove(["nope"])
    assert _files(p) == before
    assert Index.load(p).info()["updates"][-1]["op"] == "remove"


def test_binary_index_hamming_and_faiss(twotower_run, synth_data, tmp_path):
    ix = Index.build(twotower_run, synth_data, tmp_path / "tt", checkpoint="last")
    assert ix.code_kind == "binary" and ix.arrays["image_db"].shape[1] == 2  # 16 bits packed
    assert not ix.info()["rerank"] or "regions" not in ix.arrays
    h = ix.search_text("red circle", k=10)
    f = ix.search_text("red circle", k=10, engine="faiss")
    assert [x.score for x in h] == [x.score for x in f]  # −Hamming distances
    assert all(float(x.score).is_integer() and -16 <= x.score <= 0 for x in h)
    with pytest.raises(UserError, match="fine-grained"):
        ix.search_text("red circle", rerank=10)
    with pytest.raises(UserError, match="word-region"):
        ix.explain("red", ix.ids[0])
    out = ix.export_faiss(tmp_path / "fx")
    import faiss

    assert faiss.read_index_binary(str(out["image"])).ntotal == len(ix)


def test_real_valued_index(real_run, synth_data, tmp_path):
    ix = Index.build(real_run, synth_data, tmp_path / "real")
    assert ix.code_kind == "real" and ix.arrays["image_db"].dtype == np.float32
    a = ix.search_text("red circle", k=6)
    b = ix.search_text("red circle", k=6, engine="faiss")
    np.testing.assert_allclose([x.score for x in a], [x.score for x in b], rtol=1e-5, atol=1e-5)


def test_concurrent_searches(cmsl_index):
    from concurrent.futures import ThreadPoolExecutor

    ix = Index.load(cmsl_index.path)  # fresh: model and engines built lazily under the lock
    queries = ["red circle", "blue square", "green star", "red circle"] * 3
    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda q: ix.search_text(q, k=5, rerank=10), queries))
    for q, hits in zip(queries, got):
        assert hits == cmsl_index.search_text(q, k=5, rerank=10)


def test_dafsn_index_reranks_and_explains_from_stored_regions(dafsn_run, synth_data, tmp_path):
    """The index stores DAFSN's projected regions; the rerank over all items equals ranking by the
    model's word-level score computed from pixels, and explain gives one attention row per word."""
    import torch

    from crossmedia.models import load

    ix = Index.build(dafsn_run, synth_data, tmp_path / "dafsn")
    assert ix.code_kind == "real" and "regions" in ix.arrays
    n = len(ix)
    hits = ix.search_text("a red circle", k=5, rerank=n)
    model = load(dafsn_run)
    idx = [ix._row[h.id] for h in hits]
    assert len(hits) == 5
    with torch.no_grad():
        from crossmedia.search.query import text_batch

        tb = text_batch(model.info, ix._vocab, "a red circle")
        regions = torch.from_numpy(np.asarray(ix.arrays["regions"], dtype=np.float32))
        full = model.fine_grained_scores({REGION_FEATURES: regions}, tb)[:, 0].numpy()
    expected = np.argsort(-full, kind="stable")[:5]
    np.testing.assert_allclose(sorted(full[idx], reverse=True), full[expected], rtol=1e-3, atol=1e-3)
    words, attn, g = ix.explain("a red circle", ix.ids[0])
    assert attn.shape[0] == len(words) and g and attn.shape[1] == g * g
    np.testing.assert_allclose(attn.sum(1), 1.0, atol=1e-4)


def test_index_of_a_features_run_encodes_raw_images(tmp_path, capsys, tiny_dataset):
    """A run trained on precomputed features: the index carries the feature extractor, so
    `crossmedia search IX --image photo.png` works (and equals searching with the stored features)."""
    from crossmedia.cli.main import main
    from crossmedia.data import Dataset
    from crossmedia.features import extract_features

    extract_features(tiny_dataset.root, tmp_path / "feats", backbone="small_cnn", echo=lambda *_: None)
    assert main(["train", "--model", "twotower", "--data", str(tmp_path / "feats"), "--out", str(tmp_path / "run"),
                 "--set", "data.image_source=features", "--set", "train.epochs=1", "--set", "model.bits=8"]) == 0
    ix_dir = tmp_path / "ix"
    assert main(["index", "build", "--run", str(tmp_path / "run"), "--out", str(ix_dir)]) == 0
    assert "encoded by the index's small_cnn feature extractor" in capsys.readouterr().out
    photo = tiny_dataset.root / tiny_dataset.items[3]["image"]
    assert main(["search", str(ix_dir), "--image", str(photo), "-k", "3", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert len(hits) == 3 and all(h["modality"] == "text" for h in hits)
    ix = Index.load(ix_dir)
    feats = Dataset.load(tmp_path / "feats")
    by_vector = ix.search_image(np.asarray(feats.features("global")[3], dtype=np.float32), k=3)
    assert [h["id"] for h in hits] == [h.id for h in by_vector]
    # the extractor survives updates of the index
    ix = ix.remove([ix.ids[0]])
    assert ix.search_image(str(photo), k=2) and ix.info()["image_encoder"]["backbone"] == "small_cnn"


def test_dafsn_explain_with_an_out_of_vocabulary_word(dafsn_run, synth_data, tmp_path):
    """Regression: with one unknown word ("red zzz circle") DAFSN's explain gave 2 labels and 3
    attention rows, so /api/explain mislabelled rows (JSON) or answered 500 (PNG). Every model
    now gives one row per in-vocabulary word."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from crossmedia.serve.app import create_app

    ix = Index.build(dafsn_run, synth_data, tmp_path / "dafsn-oov")
    item = ix.ids[0]
    words, attn, g = ix.explain("red zzz circle", item)
    assert words == ["red", "circle"] and attn.shape == (2, g * g)
    with TestClient(create_app(ix)) as c:
        r = c.get("/api/explain", params={"query": "red zzz circle", "item": item, "format": "json"})
        assert r.status_code == 200 and r.json()["words"] == ["red", "circle"] and len(r.json()["attention"]) == 2
        png = c.get("/api/explain", params={"query": "red zzz circle", "item": item})
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"


def test_index_of_a_run_on_precomputed_region_features(synth_data, tmp_path, monkeypatch):
    """A model trained on precomputed global + region features (CMSL's local branch, as on the
    icon scenes) is indexed with its stored regions: the index streams the dataset, and the
    region memory map is read on every loader, not only the in-RAM one."""
    from crossmedia.config import resolve_config
    from crossmedia.data import Dataset
    from crossmedia.data.tensors import TensorData
    from crossmedia.data.text import Vocabulary
    from crossmedia.train import train

    data = tmp_path / "data"
    shutil.copytree(synth_data, data)
    n = len(Dataset.load(data))
    rng = np.random.default_rng(0)
    np.save(data / "global.npy", rng.normal(size=(n, 12)).astype(np.float32))
    np.save(data / "regions.npy", rng.normal(size=(n, 4, 6)).astype(np.float32))
    meta = json.loads((data / "dataset.json").read_text())
    meta["features"] = {"global": "global.npy", "regions": "regions.npy"}
    (data / "dataset.json").write_text(json.dumps(meta))
    ds = Dataset.load(data)
    for loader in ("memory", "stream"):
        t = TensorData(ds, Vocabulary(["<pad>", "<unk>", "red"]), "tags", image_source="features", loader=loader)
        assert t.batch(np.array([0, 3]))["regions"].shape == (2, 4, 6)
    cfg = resolve_config(None, ["model.name=cmsl", "data.image_source=features", "model.bits=8", "model.K=16",
                                "model.global_dim=8", "model.image_hidden=16", "model.text_hidden=16",
                                "model.graph.walks_per_node=2", "model.graph.walk_length=6", "model.graph.dim=8",
                                "model.local.dim=8", "model.local.out_dim=4", "model.quant.kmeans_iters=3",
                                "train.epochs=1", "train.val_every=0", "train.threads=1", "train.batch_size=32"],
                         data__root=str(data))
    train(cfg, tmp_path / "run")
    ix = Index.build(tmp_path / "run", data, tmp_path / "ix")
    # the index stores the model's projected regions (local.dim 8), not the 6-d raw features
    assert ix.arrays["regions"].shape == (len(ix), 4, 8)
    hits = ix.search_text("red", k=3, rerank=len(ix))
    from crossmedia.search.query import text_batch

    tb = text_batch(ix.model.info, ix._vocab, "red")
    with torch.no_grad():  # the same scores as the model on the raw features (float16 storage aside)
        rows = [ds.ids.index(h.id) for h in hits]  # dataset rows of the hits
        raw = {"regions": torch.from_numpy(np.load(data / "regions.npy")[rows])}
        want = ix.model.fine_grained_scores(raw, tb)[:, 0].numpy()
    np.testing.assert_allclose([h.score for h in hits], want, rtol=2e-3, atol=2e-3)
    # with a carried feature extractor (features from a known backbone), into a folder that does not exist yet
    import crossmedia.features.carried as carried

    monkeypatch.setattr(carried, "extractor_for_dataset",
                        lambda ds: ({"backbone": "tiny", "weights": "none", "header": {"dim": 12}}, None))
    ix2 = Index.build(tmp_path / "run", data, tmp_path / "new" / "deeper" / "ix")
    assert len(ix2) == len(ix) and not list((tmp_path / "new" / "deeper").glob(".ix.extractor.*"))


def test_a_run_with_unseen_words_maps_them_at_query_time(synth_data, tmp_path):
    """data.unseen_words is recorded with the run; its index maps a query word the training texts
    never had onto the vocabulary (a run without it refuses the same query)."""
    from crossmedia.config import resolve_config
    from crossmedia.search.query import text_batch
    from crossmedia.train import train

    vec = tmp_path / "vec.txt"
    vec.write_text("purple 1 0 0\nviolet 0.9 0.1 0\nred 0 1 0\nsquare 0 0 1\n")
    run = tmp_path / "run"
    train(resolve_config(None, ["model.name=twotower", "model.bits=16", "model.cnn_channels=[4, 8, 8, 8]",
                                "model.text_hidden=16", "train.epochs=1", "train.val_every=0", "train.threads=1",
                                "train.batch_size=32", f"data.unseen_words={vec}", "data.unseen_top_k=1"],
                         data__root=str(synth_data)), run)
    ix = Index.build(run, synth_data, tmp_path / "ix")
    assert ix.model.info.extra["unseen_words"] == {"source": str(vec), "top_k": 1, "weight": 0.5}
    b = text_batch(ix.model.info, ix._vocab, "violet")
    bow = b["bow"][0]
    purple = ix._vocab.index["purple"]
    assert bow.nonzero().flatten().tolist() == [purple]
    assert float(bow[purple]) == pytest.approx(0.5 * 0.9 / np.hypot(0.9, 0.1), rel=1e-5)
    assert ix.search_text("violet", k=3)
    with pytest.raises(UserError, match="vocabulary"):
        ix.search_text("zzzz")  # no vector either


def test_explain_needs_a_word_of_the_vocabulary_even_with_unseen_words(synth_data, tmp_path, small_cmsl):
    """A query of unseen words only is searchable (bag of words) but has no word for the
    word-region attention: explain says so in one line."""
    from crossmedia.config import resolve_config
    from crossmedia.train import train

    vec = tmp_path / "vec.txt"
    vec.write_text("purple 1 0 0\nviolet 0.9 0.1 0\n")
    run = tmp_path / "run"
    train(resolve_config(None, ["model.name=cmsl", *small_cmsl, "train.epochs=1", f"data.unseen_words={vec}"],
                         data__root=str(synth_data)), run)
    ix = Index.build(run, synth_data, tmp_path / "ix")
    item = ix.search_text("violet", k=1)[0].id
    with pytest.raises(UserError, match="explain: none of the words of 'violet'"):
        ix.explain("violet", item)
    words, attn, _ = ix.explain("purple violet", item)
    assert words == ["purple"] and attn.shape[0] == 1
