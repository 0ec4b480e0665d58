"""The model contract, end to end through the command line, for every registered model (present
and future): train one epoch on tiny embedded scenes → ``eval`` with every code view and every
measure of METRICS.md that applies (one that does not is a one-line error, exit 2) → ``index
build`` → ``search`` by text and by image → ``explain`` with an out-of-vocabulary word → the
service's ``/api/explain`` (200 with one label per attention row, or 400 for a model without
word-region attention)."""

import json

import pytest

from crossmedia.cli.main import main
from crossmedia.data.make_synth import make_synthetic_dataset
from crossmedia.eval.codes import CODE_VIEWS
from crossmedia.eval.evaluator import code_kind
from crossmedia.models import list_models, load

#: small settings per model (a model not listed here trains with its defaults)
SMALL = {
    "twotower": ["model.cnn_channels=[4,8,8,8]", "model.text_hidden=16"],
    "dcmh": ["model.cnn_channels=[4,8,8,8]", "model.text_hidden=16"],
    "acmr": ["model.cnn_channels=[4,8,8,8]", "model.hidden=16"],
    "dscmr": ["model.cnn_channels=[4,8,8,8]", "model.hidden=16"],
    "cmsl": ["model.global_dim=16", "model.cnn_channels=[4,8,8,8]", "model.image_hidden=16", "model.text_hidden=16",
             "model.graph.dim=8", "model.graph.walks_per_node=2", "model.graph.walk_length=10", "model.graph.knn=3",
             "model.graph.epochs=1", "model.local.dim=8", "model.local.out_dim=4", "model.quant.kmeans_iters=3",
             "model.quant.warmup_epochs=0"],
    "cdq": ["model.global_dim=16", "model.cnn_channels=[4,8,8,8]", "model.image_hidden=16", "model.text_hidden=16",
            "model.quant.kmeans_iters=3", "model.quant.warmup_epochs=0"],
    "dafsn": ["model.text.embed_dim=16", "model.text.hidden=8", "model.image.cnn_channels=[4,8,8,8]"],
}
#: the measures of METRICS.md, by name (pr_radius needs Hamming codes; recall@K paired items)
MEASURES = "map_all,map@10,map@10:r,map@r,p@5,p@n,pr_topn"


def _sets(*opts):
    return [a for o in opts for a in ("--set", o)]


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    root = tmp_path_factory.mktemp("contract") / "scenes"
    # 300 scenes: 150 train items, so that cq/pq views can fit 256 codewords on 300 outputs
    make_synthetic_dataset(root, n=300, seed=0, image_size=24, n_query=30, n_train=150, n_val=15)
    return root


def _one_line_error(capsys, code, needle):
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and needle in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.slow
@pytest.mark.parametrize("name", list_models())
def test_model_contract_end_to_end(name, scenes, tmp_path, capsys):
    run, ix, ex = tmp_path / "run", tmp_path / "ix", tmp_path / "ex"
    assert main(["train", "--model", name, "--data", str(scenes), "--out", str(run), "--bits", "16",
                 *_sets("train.epochs=1", "train.val_every=0", "train.threads=1", "train.batch_size=32",
                        "data.text_field=caption", *SMALL.get(name, []))]) == 0
    model = load(run)
    assert model.bits == 16 and isinstance(model.dim, int)
    assert model.region_grid is None or model.region_grid ** 2 >= 1

    # ---- eval: every code view, every measure that applies; the others are one-line errors
    for view in CODE_VIEWS:
        kind = code_kind(model, view)
        measures = MEASURES + (",pr_radius" if kind == "binary" else "")
        capsys.readouterr()
        assert main(["eval", str(run), "--codes", view, "--metrics", measures]) == 0, capsys.readouterr().err
        res = json.loads((run / ("results.json" if view == "native" else f"results_{view}.json")).read_text())
        assert set(res["results"]["image->text"]) == set(measures.split(","))
        assert res["ranking"]["codes"] == view and res["code_bytes_per_item"] > 0
        if kind != "binary":
            _one_line_error(capsys, main(["eval", str(run), "--codes", view, "--metrics", "map_all,pr_radius"]),
                            "pr_radius")
    capsys.readouterr()
    _one_line_error(capsys, main(["eval", str(run), "--metrics", "recall@1"]), "recall@K")

    # ---- index, search both ways
    assert main(["index", "build", "--run", str(run), "--out", str(ix)]) == 0
    capsys.readouterr()
    assert main(["search", str(ix), "--text", "red circle", "-k", "3", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["hits"]) == 3
    image = json.loads((scenes / "items.jsonl").read_text().splitlines()[0])["image"]
    assert main(["search", str(ix), "--image", str(scenes / image), "-k", "3", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["hits"]) == 3

    # ---- explain with an out-of-vocabulary word
    assert main(["explain", str(run), "--query", "red zzz circle", "--k", "2", "--out", str(ex)]) == 0
    summary = json.loads((ex / "explain.json").read_text())
    assert len(summary["attention_pngs"]) == (1 if model.supports_fine_grained else 0)

    # ---- the service's /api/explain: one label per attention row
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from crossmedia.search import Index
    from crossmedia.serve.app import create_app

    index = Index.load(ix)
    with TestClient(create_app(index)) as c:
        r = c.get("/api/explain", params={"query": "red zzz circle", "item": index.ids[0], "format": "json"})
        if model.supports_fine_grained:
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["words"] == ["red", "circle"] and len(body["attention"]) == len(body["words"])
            assert c.get("/api/explain", params={"query": "red zzz circle", "item": index.ids[0]}).status_code == 200
        else:
            assert r.status_code == 400 and "word-region attention" in r.json()["error"]["message"]
