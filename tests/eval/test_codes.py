"""Code views of the evaluator: native / sign / cq / pq at equal code size."""

import numpy as np
import pytest
import torch

from crossmedia.errors import UserError
from crossmedia.eval import code_view
from crossmedia.models import DataInfo, get_model


def _model(bits=16):
    info = DataInfo(n_labels=3, vocab=[f"w{i}" for i in range(6)], image_feature_dim=10)
    return get_model("acmr", {"bits": bits, "hidden": 16}, info)


def test_sign_view_is_hamming_on_dim_bits():
    v = code_view(_model(16), "sign")
    assert v.code_bytes == 2 and v.spec()["bits"] == 16
    q = torch.tensor([[1.0] * 16, [-1.0] * 16])
    d = torch.tensor([[0.5] * 16, [-0.5] * 8 + [0.5] * 8])
    dist = np.asarray(v.scorer(q, v.encode(d)).distances(0, 2))
    assert dist[0].tolist() == [0, 8] and dist[1].tolist() == [16, 8]


def test_cq_view_fits_on_train_and_ranks_like_cosine():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(4, 16)).astype(np.float32)
    train = centers[rng.integers(0, 4, 600)] + 0.05 * rng.normal(size=(600, 16)).astype(np.float32)
    v = code_view(_model(16), "cq", train_embeddings=(train[:300], train[300:]), seed=0)
    assert v.code_bytes == 2 and v.spec()["codebooks"] == 2
    assert v.spec()["train_relative_error"] < 0.2
    q = centers + 0.01
    d = np.concatenate([centers, -centers])
    nearest = np.asarray(v.scorer(q, v.encode(d)).distances(0, 4)).argmin(1)
    assert nearest.tolist() == [0, 1, 2, 3]
    p = code_view(_model(16), "pq", train_embeddings=(train[:300], train[300:]), seed=0)
    assert p.name == "pq" and p.code_bytes == 2
    assert np.asarray(p.scorer(q, p.encode(d)).distances(0, 4)).argmin(1).tolist() == [0, 1, 2, 3]


def test_native_view_bytes():
    assert code_view(_model(16), "native").code_bytes == 64
    info = DataInfo(n_labels=3, vocab=[f"w{i}" for i in range(6)], image_feature_dim=10)
    assert code_view(get_model("dcmh", {"bits": 24, "text_hidden": 8}, info), "native").code_bytes == 3


def test_bad_view_and_missing_train_embeddings():
    with pytest.raises(UserError, match="codes"):
        code_view(_model(), "bogus")
    with pytest.raises(UserError, match="training split"):
        code_view(_model(), "cq")


def test_eval_command_codes_option(tmp_path, tiny_dataset):
    import json

    from crossmedia.cli.main import main

    out = tmp_path / "run"
    assert main(["train", "--model", "dscmr", "--data", str(tiny_dataset.root), "--out", str(out), "--bits", "8",
                 "--set", "train.epochs=1", "--set", "model.hidden=16", "--set", "model.cnn_channels=[4,4,8,8]"]) == 0
    assert main(["eval", str(out), "--codes", "sign"]) == 0
    res = json.loads((out / "results_sign.json").read_text())
    assert res["ranking"]["codes"] == "sign" and res["code_bytes_per_item"] == 1
    assert main(["eval", str(out)]) == 0
    assert json.loads((out / "results.json").read_text())["code_bytes_per_item"] == 32
    assert main(["eval", str(out), "--codes", "bogus"]) == 2


def _every_model(name):
    info = DataInfo(n_labels=3, vocab=["<pad>", "<unk>"] + [f"w{i}" for i in range(6)], image_size=24)
    return get_model(name, {"bits": 16}, info)


@pytest.mark.parametrize("name", __import__("crossmedia.models", fromlist=["list_models"]).list_models())
def test_every_model_has_bits_and_every_view(name):
    """Regression: `eval --codes cq` ended in AttributeError ('bits') on DAFSN and on CMSL with
    quantization off — every model now has a ``bits`` option and the views read the contract."""
    m = _every_model(name)
    assert m.bits == 16 and m.dim >= 16
    x = np.random.default_rng(0).normal(size=(300, m.dim)).astype(np.float32)
    for view in ("sign", "cq", "pq"):
        v = code_view(m, view, train_embeddings=(x[:150], x[150:]), seed=0)
        assert v.code_bytes == 2 and v.spec()["bits"] == 16
        d = np.asarray(v.scorer(x[:3], v.encode(x[:50])).distances(0, 3))
        assert d.shape == (3, 50)
    native = code_view(m, "native")
    assert native.kind == {"twotower": "binary", "dcmh": "binary", "cmsl": "real", "cdq": "real"}.get(name, "real")


def test_cq_view_on_cmsl_without_quantization():
    info = DataInfo(n_labels=3, vocab=["<pad>", "<unk>"] + [f"w{i}" for i in range(6)], image_size=24)
    m = get_model("cmsl", {"bits": 16, "quant": {"enabled": False}}, info)
    x = np.random.default_rng(1).normal(size=(300, m.dim)).astype(np.float32)
    v = code_view(m, "cq", train_embeddings=(x[:150], x[150:]))
    assert v.name == "composite" and v.spec()["codebooks"] == 2


def test_float_view_is_the_models_own_similarity_without_codes():
    info = DataInfo(n_labels=3, vocab=["<pad>", "<unk>"] + [f"w{i}" for i in range(6)], image_size=24)
    x = np.random.default_rng(2).normal(size=(20, 16)).astype(np.float32)
    for name in ("cmsl", "cdq", "dcmh", "twotower"):
        m = get_model(name, {"bits": 16}, info)
        v = code_view(m, "float")  # nothing to fit
        assert v.name == "float_ip" and v.code_bytes == 4 * m.dim
        q, d = x[:4, :1].repeat(m.dim, 1), x[4:, :1].repeat(m.dim, 1)
        np.testing.assert_allclose(np.asarray(v.scorer(q, v.encode(d)).distances(0, 4)), -(q @ d.T), rtol=1e-5)
    for name in ("acmr", "dscmr", "dafsn"):
        m = get_model(name, {"bits": 16}, info)
        assert code_view(m, "float").spec() == code_view(m, "native").spec()
        assert code_view(m, "float").name == "float_cosine"


def test_eval_command_offers_every_view():
    from crossmedia.cli.main import eval_cmd
    from crossmedia.eval import CODE_VIEWS

    choices = next(p for p in eval_cmd.params if p.name == "codes").type.choices
    assert tuple(choices) == CODE_VIEWS
