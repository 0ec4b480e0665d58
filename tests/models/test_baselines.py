"""DCMH, ACMR, DSCMR (and the CDQ preset): registry, a tiny training run lowers the loss, a
save/load round trip reproduces the encoders."""

import io

import numpy as np
import pytest
import torch

from crossmedia.models import DataInfo, Ranks, get_model, list_models

SMALL = {"cnn_channels": [4, 4, 8, 8]}
CASES = {
    "dcmh": {"bits": 8, "text_hidden": 16, **SMALL},
    "acmr": {"bits": 8, "hidden": 16, **SMALL},
    "dscmr": {"bits": 8, "hidden": 16, **SMALL},
}


def _batch(n=16, vocab=6, labels=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.zeros(n, labels)
    y[torch.arange(n), torch.arange(n) % labels] = 1  # every item one label, all classes present
    bow = (torch.rand(n, vocab, generator=g) * 0.2) + torch.nn.functional.pad(y, (0, vocab - labels))
    return {"image": torch.rand(n, 3, 24, 24, generator=g) * 0.2 + y.argmax(1).view(n, 1, 1, 1) * 0.3,
            "bow": bow, "labels": y, "pos": torch.arange(n)}


class _ctx:
    def __init__(self, labels, seed=0):
        self.train_labels = labels
        self.config = {"train": {"seed": seed}}
        self.ranks = Ranks()  # one process


def _info():
    return DataInfo(n_labels=3, vocab=[f"w{i}" for i in range(6)], image_size=24)


def test_registry_lists_the_baselines():
    assert {"acmr", "cdq", "cmsl", "dcmh", "dscmr", "twotower"} <= set(list_models())


@pytest.mark.parametrize("name", sorted(CASES))
def test_tiny_training_lowers_the_loss(name):
    torch.manual_seed(0)
    m = get_model(name, CASES[name], _info())
    batch = _batch()
    ctx = _ctx(batch["labels"])
    m.setup_training(ctx)
    opt = m.configure_optimizer(lr=1e-2)
    losses = []
    for step in range(40):
        epoch = step // 10  # DCMH alternates image/text passes by epoch
        if step % 10 == 0:
            m.on_epoch_start(epoch, ctx)
        out = m.training_step(batch, epoch, step / 40)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(out["loss"].item())
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    m.eval()
    x = m.encode_image(batch)
    assert x.shape == (16, 8) and torch.isfinite(x).all()


@pytest.mark.parametrize("name", sorted(CASES))
def test_save_load_round_trip(name):
    a = get_model(name, CASES[name], _info())
    a.setup_training(_ctx(_batch()["labels"]))
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b = get_model(name, CASES[name], _info())
    b.load_state_dict(torch.load(buf, weights_only=False))
    a.eval(), b.eval()
    x = _batch(4)
    assert torch.equal(a.encode_image(x), b.encode_image(x))
    assert torch.equal(a.encode_text(x), b.encode_text(x))
    assert a.codec().spec() == b.codec().spec()


def test_dcmh_alternates_modalities():
    m = get_model("dcmh", CASES["dcmh"], _info())
    batch = _batch()
    m.setup_training(_ctx(batch["labels"]))
    m.training_step(batch, 0, 0.0)["loss"].backward()
    assert all(p.grad is None for p in m.txt.parameters())  # epoch 0: image net only
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.img_head.parameters())
    m.zero_grad(set_to_none=True)
    m.training_step(batch, 1, 0.5)["loss"].backward()
    assert all(p.grad is None for p in m.img_head.parameters())  # epoch 1: text net only
    assert not torch.equal(m.G_all, torch.zeros_like(m.G_all))


def test_real_valued_models_use_bits_as_dimension_and_cosine():
    for name in ("acmr", "dscmr"):
        m = get_model(name, {**CASES[name], "bits": 16}, _info())
        codec = m.codec()
        assert m.dim == 16 and m.bits == 16 and codec.kind == "real" and codec.name == "float_cosine"
        m.eval()
        x = _batch(4)
        codes = codec.encode(m.encode_image(x))
        assert codes.dtype == np.float32 and codes.shape == (4, 16)
        assert codec.spec()["distance"] == "negative cosine" and codec.code_bytes == 64


def test_dscmr_projection_is_shared_and_acmr_is_not():
    assert hasattr(get_model("dscmr", CASES["dscmr"], _info()), "proj")
    acmr = get_model("acmr", CASES["acmr"], _info())
    assert hasattr(acmr, "img_proj") and hasattr(acmr, "txt_proj")


def test_cdq_is_cmsl_preset_not_a_copy():
    from crossmedia.models.cmsl import CMSL, CDQ

    assert issubclass(CDQ, CMSL)
    cfg = CDQ.default_config
    assert not cfg["graph"]["enabled"] and not cfg["expansion"]["enabled"] and not cfg["local"]["enabled"]
    assert cfg["loss"]["intra_weight"] == 0


def test_bad_schedule_is_a_config_error():
    from crossmedia.errors import ConfigError

    with pytest.raises(ConfigError, match="schedule"):
        get_model("dcmh", {**CASES["dcmh"], "schedule": "sometimes"}, _info())


def _feature_info(dim=12):
    return DataInfo(n_labels=3, vocab=[f"t{i}" for i in range(6)], image_feature_dim=dim)


def _feature_batch(n=16, dim=12):
    b = _batch(n)
    b["image"] = torch.randn(n, dim, generator=torch.Generator().manual_seed(1)) + b["labels"].repeat(1, dim // 3)
    return b


def _paper_model(name, **extra):
    from crossmedia.config import load_config_file, resolve_config

    cfg = resolve_config(load_config_file(f"{name}-paper"), [f"model.{k}={v}" for k, v in extra.items()])
    return get_model(cfg["model"]["name"], cfg["model"], _feature_info()), cfg


def test_dscmr_paper_preset_is_the_released_architecture_and_loss():
    from crossmedia.models.dscmr import DSCMR

    torch.manual_seed(0)
    m, cfg = _paper_model("dscmr")
    assert isinstance(m, DSCMR) and cfg["train"]["adam_betas"] == [0.5, 0.999]
    assert cfg["train"]["batch_order"] == "fixed" and cfg["train"]["epochs"] == 500 and cfg["train"]["lr"] == 1e-4
    assert [type(x).__name__ for x in m.img_body] == ["Linear", "ReLU"] and m.img_body[0].out_features == 2048
    assert m.proj.in_features == 2048 and m.proj.out_features == 1024 and m.label_map.bias is not None
    b = _feature_batch()
    out = m.training_step(b, 0, 0.0)
    # the released calc_loss, written out independently: unsquared norms, alpha 1e-3, beta 0.1, S = Y Yᵀ
    u, v, y = m.encode_image(b), m.encode_text(b), b["labels"]
    pu, pv = m.label_map(u), m.label_map(v)
    t1 = (pu - y).norm(dim=1).mean() + (pv - y).norm(dim=1).mean()
    cos = lambda a, c: (a @ c.T) / (a.norm(dim=1, keepdim=True) @ c.norm(dim=1, keepdim=True).T) / 2
    S = y @ y.T
    t2 = sum((torch.log1p(torch.exp(th)) - S * th).mean() for th in (cos(u, u), cos(u, v), cos(v, v)))
    t3 = (u - v).norm(dim=1).mean()
    assert out["loss"].item() == pytest.approx((t1 + 1e-3 * t2 + 0.1 * t3).item(), rel=1e-5)


def test_acmr_paper_preset_released_form():
    torch.manual_seed(0)
    m, cfg = _paper_model("acmr")
    assert [x.out_features for x in m.img_body if isinstance(x, torch.nn.Linear)] == [512, 100]
    assert [x.out_features for x in m.txt_body if isinstance(x, torch.nn.Linear)] == [40, 100]
    assert m.dim == 40 and not any(isinstance(x, torch.nn.ReLU) for x in m.discriminator)
    b = _feature_batch()
    u, v = m.encode_image(b), m.encode_text(b)
    assert u.abs().max() <= 1.0  # tanh output
    out = m.training_step(b, 0, 0.5)
    out["loss"].backward()
    assert m.classifier.weight.grad is None  # the released code never updates the label classifier
    assert m.discriminator[0].weight.grad is not None
    # the modality classifier's gradient does not reach the towers: the adversarial term alone gives them none
    m.zero_grad()
    from crossmedia.losses import modality_adversarial_loss

    adv, _ = modality_adversarial_loss(m.discriminator, m.encode_image(b).detach(), m.encode_text(b).detach(), 1.0)
    adv.backward()
    assert m.img_body[0].weight.grad is None


def test_dcmh_paper_preset_trains_with_sgd_and_linear_schedule():
    from crossmedia.config import load_config_file, resolve_config

    cfg = resolve_config(load_config_file("dcmh-paper"))
    t = cfg["train"]
    assert (t["optimizer"], t["lr_schedule"], t["batch_order"], t["batch_size"], t["epochs"]) == ("sgd", "linear", "sample", 128, 1000)
    assert t["lr"] == pytest.approx(10 ** -1.5) and t["lr_end"] == 1e-6
    assert cfg["model"]["text_hidden"] == 8192 and cfg["model"]["pos_weight"] is None
