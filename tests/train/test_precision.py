import sys
from pathlib import Path

import pytest

from crossmedia.errors import UserError
from crossmedia.train import train

sys.path.insert(0, str(Path(__file__).parent))
from ddp_runs import MODELS, config  # noqa: E402


@pytest.mark.parametrize("model", list(MODELS))
def test_bf16_autocast_trains_and_validates(tmp_path, tiny_dataset, model):
    run = train(config(tiny_dataset.root, model, "train.precision=bf16", "train.epochs=1"), tmp_path / "r")
    rec = run.read_log()[-1]
    assert rec["loss"] == rec["loss"] and 0.0 <= rec["val_score"] <= 1.0


def test_unknown_precision_is_a_user_error(tmp_path, tiny_dataset):
    with pytest.raises(UserError, match="train.precision"):
        train(config(tiny_dataset.root, "twotower", "train.precision=fp8"), tmp_path / "r")
    assert not (tmp_path / "r").exists()
