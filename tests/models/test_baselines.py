"""DCMH, ACMR, DSCMR (and the CDQ preset): registry, a tiny training run lowers the loss, a
save/load round trip reproduces the encoders."""

import io

import numpy as np
import pytest
import torch

from crossmedia.models import DataInfo, get_model, list_models

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


def _info():
    return DataInfo(n_labels=3, vocab=[f"w{i}" for i in range(6)], image_size=24)


def test_registry_lists_the_baselines():
    assert {"acmr", "cdq", "cmsl", "dcmh", "dscmr", "twotower"} <= set(list_models())


@pytest.mark.parametrize("name", sorted(CASES))
def test_tiny_training_lowers_the_loss(name):
    torch.manual_seed(0)
    m = get_model(name, CASES[name], _info())
    batch = _batch()
    m.setup_training(_ctx(batch["labels"]))
    opt = m.configure_optimizer(lr=1e-2)
    losses = []
    for step in range(40):
        epoch = step // 10  # DCMH alternates image/text passes by epoch
        if step % 10 == 0:
            m.on_epoch_start(epoch, None)
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
