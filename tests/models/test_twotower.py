import numpy as np
import torch

from crossmedia.models import DataInfo, Ranks, get_model
from crossmedia.models.encoders import SmallCNN


def test_small_cnn_shapes():
    cnn = SmallCNN((8, 8, 16, 16), grid=3)
    g, r = cnn(torch.rand(2, 3, 72, 72))
    assert g.shape == (2, 16) and r.shape == (2, 9, 16)
    assert torch.allclose(g, r.mean(1))
    assert SmallCNN(grid=9)(torch.rand(1, 3, 72, 72))[1].shape == (1, 81, 128)


def _batch(n, vocab=6, labels=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, labels, generator=g) > 0.5).float()
    y[:, 0] = 1  # every item has at least one label
    return {"image": torch.rand(n, 3, 24, 24, generator=g), "bow": torch.rand(n, vocab, generator=g),
            "labels": y, "pos": torch.arange(n)}


class _ctx:
    def __init__(self, labels, seed=0):
        self.train_labels = labels
        self.config = {"train": {"seed": seed}}
        self.ranks = Ranks()  # one process


def test_training_step_decreases_loss_and_codes_are_pm1():
    torch.manual_seed(0)
    info = DataInfo(n_labels=3, vocab=[f"w{i}" for i in range(6)], image_size=24)
    m = get_model("twotower", {"bits": 8, "cnn_channels": [4, 4, 8, 8], "text_hidden": 16}, info)
    batch = _batch(16)
    ctx = _ctx(batch["labels"])
    m.setup_training(ctx)
    opt = m.configure_optimizer(lr=1e-2)
    first = None
    for step in range(30):
        m.on_epoch_start(step, ctx)
        out = m.training_step(batch, step, 0.0)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        first = first if first is not None else out["loss"].item()
    assert out["loss"].item() < first
    m.eval()
    codec = m.codec()
    assert codec.name == "sign" and codec.bits == 8 and codec.code_bytes == 1
    codes = codec.encode(m.encode_image(batch))
    assert codes.dtype == np.uint8 and codes.shape == (16, 1)
    assert codec.encode(torch.zeros(1, 8)).tolist() == [[255]]  # x >= 0 -> 1, never 0


def test_state_dict_round_trip_without_training_state():
    info = DataInfo(n_labels=3, vocab=[f"w{i}" for i in range(6)], image_size=24)
    cfg = {"bits": 8, "cnn_channels": [4, 4, 8, 8], "text_hidden": 16}
    a = get_model("twotower", cfg, info)
    a.setup_training(_ctx(torch.ones(5, 3)))
    b = get_model("twotower", cfg, info)
    b.load_state_dict(a.state_dict())
    assert b.F_all.shape == (5, 8)
    a.eval(), b.eval()
    x = _batch(2)
    assert torch.equal(a.encode_text(x), b.encode_text(x))


def test_precomputed_image_features():
    info = DataInfo(n_labels=3, vocab=[f"w{i}" for i in range(6)], image_feature_dim=10)
    m = get_model("twotower", {"bits": 8, "text_hidden": 16}, info)
    assert m.cnn is None
    assert m.encode_image({"image": torch.rand(4, 10)}).shape == (4, 8)


def test_training_step_is_dcmh_objective_against_every_stored_output():
    """The likelihood term pairs the batch with all N stored outputs (DCMH eq. 3), pos_weight
    included: the step's loss and parameter gradients equal the plain autograd formula."""
    from crossmedia.losses import label_similarity, pairwise_likelihood_loss

    torch.manual_seed(0)
    info = DataInfo(n_labels=3, vocab=[f"w{i}" for i in range(6)], image_size=24)
    m = get_model("twotower", {"bits": 8, "cnn_channels": [4, 4, 8, 8], "text_hidden": 16, "pos_weight": 3.0}, info)
    train = _batch(24, seed=1)
    m.setup_training(_ctx(train["labels"]))
    m.memory.image.normal_(), m.memory.text.normal_()  # stored outputs of the other items: not just noise
    batch = {k: v[:8] for k, v in train.items()}
    m.eval()  # no dropout: both computations see the same outputs
    out = m.training_step(batch, 0, 0.0)
    got = torch.autograd.grad(out["loss"], [*m.txt.parameters(), *m.img_head.parameters()])
    f, g = m.encode_image(batch), m.encode_text(batch)
    s = label_similarity(batch["labels"], m.train_labels)
    norm = 8 * 24
    lik = (pairwise_likelihood_loss(f, m.G_all, s, reduction="sum", pos_weight=3.0)
           + pairwise_likelihood_loss(g, m.F_all, s, reduction="sum", pos_weight=3.0)) / norm
    assert torch.allclose(out["likelihood"], lik.detach(), rtol=1e-5)
    b = m.B_all[batch["pos"]]
    quant = (((b - f) ** 2).sum() + ((b - g) ** 2).sum()) / norm
    col_f = f.sum(0) + m.F_all.sum(0) - m.F_all[batch["pos"]].sum(0)
    col_g = g.sum(0) + m.G_all.sum(0) - m.G_all[batch["pos"]].sum(0)
    ref = lik + quant + ((col_f ** 2).sum() + (col_g ** 2).sum()) / (norm * 24)
    assert torch.allclose(out["loss"], ref, rtol=1e-5)
    want = torch.autograd.grad(ref, [*m.txt.parameters(), *m.img_head.parameters()])
    for a, w in zip(got, want):
        assert torch.allclose(a, w, rtol=1e-4, atol=1e-6)
