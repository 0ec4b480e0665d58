import json

import numpy as np
import pytest
from PIL import Image

from crossmedia.config import resolve_config
from crossmedia.errors import UserError
from crossmedia.eval import evaluator
from crossmedia.eval.report import evaluate_run
from crossmedia.train import train

SMALL = ["model.bits=8", "model.cnn_channels=[4, 8, 8, 8]", "model.text_hidden=16", "train.batch_size=8"]


@pytest.fixture
def trained(tmp_path, tiny_dataset):
    cfg = resolve_config(None, [*SMALL, "train.epochs=3"], data__root=str(tiny_dataset.root))
    return train(cfg, tmp_path / "run")


def test_results_file_records_conventions_and_provenance(trained, capsys):
    path = evaluate_run(trained.path, metrics="map_all,map@5,map@r,p@3,pr_radius,pr_topn", tie="expected",
                        echo=lambda *_: None)
    res = json.loads(path.read_text())
    assert res["split"] == "test" and res["queries"]["split"] == "query" and res["database"]["split"] == "retrieval"
    assert res["protocol"]["name"] == "default" and res["protocol"]["seed"] == 0 and "rule" in res["protocol"]
    assert res["seed"] == 0 and "git_commit" in res and res["model"]["name"] == "twotower"
    assert res["checkpoint"]["which"] == "best"
    for d in ("image->text", "text->image"):
        r = res["results"][d]
        assert set(r) == {"map_all", "map@5", "map@r", "p@3", "pr_radius", "pr_topn"}
        for name, m in r.items():
            # PR by Hamming radius retrieves whole radius balls: no tie policy applies
            assert m["spec"]["tie"] == ("n/a" if name == "pr_radius" else "expected") and m["spec"]["relevance"]
            assert "n_empty" in m
        assert 0.0 <= r["map_all"]["value"] <= 1.0
    assert 0.0 < res["random_ranking"]["map_all"] < 1.0
    assert {p.split("/")[-1] for p in res["plots"]} == {"pr_radius.png", "pr_topn.png", "precision_at_n.png"}
    for p in res["plots"]:
        assert Image.open(p).format == "PNG"
    md = (trained.path / "results.md").read_text()
    assert "| map_all |" in md and "protocol default" in md


def test_val_split_is_labelled_and_kept_apart(trained):
    path = evaluate_run(trained.path, split="val", echo=lambda *_: None)
    assert path.name == "val_results.json"
    res = json.loads(path.read_text())
    assert res["split"].startswith("val (model selection only")
    assert res["queries"]["split"] == "val" and res["database"]["split"] == "val (held out)"
    assert res["val_rule"].startswith("val_rule=heldout")
    assert res["checkpoint"]["selected_by"].startswith("best map_all") and "heldout" in res["checkpoint"]["selected_by"]
    assert res["machine"]["torch_threads"] >= 1 and res["machine"]["training"]["device"] == "cpu"
    assert not (trained.path / "results.json").exists()


def test_validation_never_touches_test_queries(tmp_path, tiny_dataset, encoded_indices):
    seen = encoded_indices
    cfg = resolve_config(None, [*SMALL, "train.epochs=2"], data__root=str(tiny_dataset.root))
    run = train(cfg, tmp_path / "r")
    proto = tiny_dataset.protocol()
    assert seen and not set(seen) & set(proto["query"].tolist())
    log = run.read_log()
    best = max(log, key=lambda r: r["val_score"])
    assert run.info()["best_epoch"] == best["epoch"]


def test_bad_metric_and_recall_without_pairs(trained):
    with pytest.raises(UserError, match="--metrics: unknown metric 'map@x'"):
        evaluate_run(trained.path, metrics="map_all,map@x", echo=lambda *_: None)
    with pytest.raises(UserError, match="recall@K needs"):
        evaluate_run(trained.path, metrics="recall@5", echo=lambda *_: None)
    with pytest.raises(UserError, match="recall@K with K a positive integer"):
        evaluate_run(trained.path, metrics="recall@0", echo=lambda *_: None)


def test_recall_at_k_with_paired_database(tmp_path, tiny_dataset):
    from crossmedia.data import Protocol

    p = tiny_dataset.protocol()
    q = Protocol(name="paired", n_items=p.n_items, seed=0, rule="test set is query and retrieval",
                 query_in_retrieval=True,
                 splits={"train": p["train"], "val": p["val"], "query": p["query"],
                         "retrieval": np.union1d(p["retrieval"], p["query"])})
    tiny_dataset.save_protocol(q)
    cfg = resolve_config(None, [*SMALL, "train.epochs=1", "data.protocol=paired"], data__root=str(tiny_dataset.root))
    run = train(cfg, tmp_path / "r")
    res = json.loads(evaluate_run(run.path, metrics="map_all,recall@1,recall@5", echo=lambda *_: None).read_text())
    for d in ("image->text", "text->image"):
        r = res["results"][d]
        assert 0 <= r["recall@1"]["value"] <= r["recall@5"]["value"] <= 100
        assert r["medr"]["value"] >= 1


def test_pair_positives():
    class DS:
        items = [{"id": "a", "image": "x.png"}, {"id": "b", "image": "x.png"}, {"id": "c", "image": "y.png"}]

    pos = evaluator.pair_positives(DS(), [0, 2], [1, 2, 0])
    assert pos.tolist() == [[True, False, True], [False, True, False]]


def test_precomputed_representations():
    from crossmedia.eval import evaluate_representations

    Y = np.eye(3, dtype=np.uint8)[[0, 1, 2, 0, 1, 2]]
    emb = Y.astype(np.float32) * 2 - 1  # perfect codes: items of one class share their code
    res = evaluate_representations(emb[:3], emb[:3], emb[3:], emb[3:], Y[:3], Y[3:], kind="hamming",
                                   metrics=["map_all", "p@1"])
    for d in ("image->text", "text->image"):
        assert res["results"][d]["map_all"]["value"] == 1.0 and res["results"][d]["p@1"]["value"] == 1.0
    assert res["ranking"]["distance"] == "hamming"
    res = evaluate_representations(-emb[:3], emb[:3], emb[3:], emb[3:], Y[:3], Y[3:], kind="cosine")
    assert res["results"]["image->text"]["map_all"]["value"] < 1.0
    assert res["results"]["text->image"]["map_all"]["value"] == 1.0
    with pytest.raises(UserError, match="kind"):
        evaluate_representations(emb, emb, emb, emb, Y, Y, kind="l7")


def test_hamming_only_metric_on_quantized_codes_is_a_one_line_error(tmp_path, tiny_dataset, capsys):
    """Regression: `eval --metrics map_all,pr_radius` on a CMSL/CDQ run printed a traceback and
    exited 1; it is a one-line error (exit 2) before anything is computed, and it works on the
    run's sign view."""
    from crossmedia.cli.main import main

    out = tmp_path / "cdq"
    assert main(["train", "--model", "cdq", "--data", str(tiny_dataset.root), "--out", str(out), "--bits", "16",
                 "--set", "model.K=16", "--set", "model.quant.warmup_epochs=0", "--set", "train.epochs=1",
                 "--set", "model.cnn_channels=[4,8,8,8]", "--set", "model.image_hidden=16",
                 "--set", "model.text_hidden=16", "--set", "model.global_dim=16"]) == 0
    capsys.readouterr()
    assert main(["eval", str(out), "--metrics", "map_all,pr_radius"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --metrics pr_radius") and len(err.strip().splitlines()) == 1
    assert not (out / "results.json").exists()
    assert main(["eval", str(out), "--metrics", "map_all,pr_radius", "--codes", "sign"]) == 0
    res = json.loads((out / "results_sign.json").read_text())
    assert "pr_radius" in res["results"]["image->text"] and res["ranking"]["codec"] == "sign"


def test_database_views_rank_the_chosen_retrieval_items(trained, capsys):
    """`--database unseen` ranks the retrieval items outside train and val, `train` the ones the
    model trained on; each equals ranking that subset directly, and each file sits beside the
    protocol's own results."""
    from crossmedia.cli.main import main
    from crossmedia.eval import evaluate_representations
    from crossmedia.eval.evaluator import encode_items, load_for_evaluation

    ck, rd = load_for_evaluation(trained.path)
    p = rd.protocol
    full = json.loads(evaluate_run(trained.path, echo=lambda *_: None).read_text())
    assert full["database"]["view"] == "retrieval" and full["database"]["count"] == len(p["retrieval"])
    for view, expect in (("unseen", np.setdiff1d(p["retrieval"], np.union1d(p["train"], p["val"]))),
                         ("train", np.intersect1d(p["retrieval"], p["train"]))):
        assert 0 < len(expect) < len(p["retrieval"])
        path = evaluate_run(trained.path, database=view, echo=lambda *_: None)
        assert path.name == f"results_{view}.json"
        res = json.loads(path.read_text())
        assert res["database"] == {"split": f"retrieval ({view})", "count": len(expect), "view": view,
                                   "holds": p.test_database_text(view)}
        img_q, txt_q = encode_items(ck.model, rd.tensors, p["query"])
        img_d, txt_d = encode_items(ck.model, rd.tensors, expect)
        Y = rd.dataset.labels
        direct = evaluate_representations(img_q.numpy(), txt_q.numpy(), img_d.numpy(), txt_d.numpy(), Y[p["query"]],
                                          Y[expect], kind="hamming")
        for d in ("image->text", "text->image"):
            assert res["results"][d]["map_all"]["value"] == pytest.approx(direct["results"][d]["map_all"]["value"])
    assert "outside train and val" in (trained.path / "results_unseen.md").read_text()
    both = evaluate_run(trained.path, codes="float", database="train", echo=lambda *_: None)  # views combine
    res = json.loads(both.read_text())
    assert both.name == "results_float_train.json" and res["ranking"]["codes"] == "float"
    assert res["database"]["view"] == "train" and res["database"]["count"] == len(np.intersect1d(p["retrieval"], p["train"]))
    assert json.loads((trained.path / "results.json").read_text())["database"]["view"] == "retrieval"
    capsys.readouterr()
    assert main(["eval", str(trained.path), "--split", "val", "--database", "unseen"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --database unseen: applies to the test split") and len(err.strip().splitlines()) == 1
    assert not (trained.path / "val_results_unseen.json").exists()


def test_eval_command_offers_every_database_view():
    from crossmedia.cli.main import eval_cmd
    from crossmedia.data.protocol import DATABASE_VIEWS

    choices = next(p for p in eval_cmd.params if p.name == "database").type.choices
    assert tuple(choices) == DATABASE_VIEWS
