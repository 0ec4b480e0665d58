"""Model selection on held-out data (``train.val_rule``) and bit-reproducible CPU training."""

from pathlib import Path

import numpy as np
import pytest
import torch

from crossmedia.config import resolve_config
from crossmedia.models.checkpoint import read_checkpoint
from crossmedia.train import train


def make_noisy_feature_dataset(root: Path, n=200, n_labels=4, dim=64, noise_frac=0.5, seed=0):
    """Feature vectors = class centre + strong noise; half of the *training* items carry a random
    label. A wide network first learns the class directions, then memorises the noise and the
    wrong labels: held-out retrieval peaks early and falls, while ranking against the training
    items keeps climbing."""
    from crossmedia.data import Dataset, Protocol

    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_labels, n)
    img = rng.normal(size=(n_labels, dim))[y] * 0.6 + rng.normal(size=(n, dim))
    txt = rng.normal(size=(n_labels, dim))[y] * 0.6 + rng.normal(size=(n, dim))
    proto = Protocol.random(n, n_query=40, n_train=100, n_val=40, seed=seed, name="default")
    lab = y.copy()
    tr = proto["train"]
    flip = rng.random(len(tr)) < noise_frac
    lab[tr[flip]] = rng.integers(0, n_labels, int(flip.sum()))
    items = [{"id": f"i{i}", "feature_row": i, "labels": [int(lab[i])], "tags": ["x"]} for i in range(n)]
    (root / "features").mkdir(parents=True, exist_ok=True)
    np.save(root / "features" / "image_global.npy", img.astype(np.float32))
    np.save(root / "features" / "text.npy", txt.astype(np.float32))
    ds = Dataset(name="noisy", items=items, label_names=[f"c{k}" for k in range(n_labels)],
                 meta={"features": {"global": "features/image_global.npy", "text": "features/text.npy"}})
    ds.save(root)
    ds.save_protocol(proto)
    return Dataset.load(root)


OVERFIT = ["train.epochs=40", "train.lr=3e-3", "train.batch_size=25", "model.bits=16", "model.dropout=0.0",
           "model.hidden=256", "data.image_source=features", "data.text_field=features"]


@pytest.fixture
def noisy(tmp_path):
    return make_noisy_feature_dataset(tmp_path / "noisy")


def _train(ds, out, *extra, model="dscmr"):
    cfg = resolve_config(None, [*OVERFIT, *extra], model__name=model, data__root=str(ds.root))
    return train(cfg, out, overwrite=True)


def test_heldout_rule_never_ranks_against_training_items(noisy, tmp_path, encoded_indices):
    seen = encoded_indices
    run = _train(noisy, tmp_path / "r", "train.epochs=2")
    proto = noisy.protocol()
    assert seen and set(seen) <= set(proto["val"].tolist())
    assert not set(seen) & set(proto["train"].tolist()) and not set(seen) & set(proto["query"].tolist())
    info = run.info()
    assert info["val_rule"] == "heldout" and "val_rule=heldout" in info["val_selection"]
    assert info["machine"]["torch_threads"] >= 1 and info["machine"]["device"] == "cpu"


def test_selected_epoch_of_an_overfitting_model_is_not_the_last(noisy, tmp_path):
    new = _train(noisy, tmp_path / "heldout")
    old = _train(noisy, tmp_path / "old", "train.val_rule=train_database")
    best_new, best_old = new.info()["best_epoch"], old.info()["best_epoch"]
    assert best_new < 40
    scores = [r["val_score"] for r in new.read_log()]
    assert max(scores) > scores[-1] + 0.05  # it really overfits: held-out score falls after its peak
    # the old rule (val queries vs training items) keeps rewarding the memorising model
    assert best_old > best_new
    assert "train_database" in old.info()["val_selection"]


def test_deterministic_training_is_bit_identical_across_thread_counts(noisy, tmp_path):
    threads = torch.get_num_threads()
    runs = [_train(noisy, tmp_path / f"t{t}", "train.epochs=2", "train.deterministic=true", f"train.threads={t}")
            for t in (1, 3)]
    assert torch.get_num_threads() == threads  # restored after the run
    a, b = (read_checkpoint(r.checkpoint("last"))["model"] for r in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert runs[0].info()["machine"]["deterministic"] is True and runs[0].info()["machine"]["torch_threads"] == 1


def test_batch_orders(noisy, tmp_path):
    from crossmedia.train.trainer import epoch_batches

    fixed = epoch_batches(10, 4, "fixed", False, 0, 3)
    assert [b.tolist() for b in fixed] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert len(epoch_batches(10, 4, "shuffle", True, 0, 0)) == 2
    sample = epoch_batches(10, 4, "sample", False, 0, 0)
    assert len(sample) == 3 and all(len(b) == 4 and len(set(b.tolist())) == 4 for b in sample)
    assert [b.tolist() for b in epoch_batches(10, 4, "shuffle", False, 1, 2)] == \
           [b.tolist() for b in epoch_batches(10, 4, "shuffle", False, 1, 2)]


def test_linear_schedule_and_sgd(noisy, tmp_path):
    run = _train(noisy, tmp_path / "sgd", "train.epochs=3", "train.optimizer=sgd", "train.lr_schedule=linear",
                 "train.lr=0.01", "train.lr_end=0.001")
    ck = read_checkpoint(run.checkpoint("last"))
    assert "momentum" in ck["training"]["optimizer"]["param_groups"][0]  # an SGD state
    from crossmedia.train.trainer import build_scheduler

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = build_scheduler(opt, {"lr_schedule": "linear", "epochs": 3, "lr": 0.1, "lr_end": 0.01})
    lrs = []
    for _ in range(3):
        lrs.append(opt.param_groups[0]["lr"])
        sched.step()
    assert lrs == pytest.approx([0.1, 0.055, 0.01])
