"""The contract test's CUDA leg: every registered model trains (fp32 and bf16 autocast) and
validates on a CUDA device, with every piece of per-training-item state on that device; skipped
where there is no CUDA device."""

import pytest
import torch

from crossmedia.cli.main import main
from crossmedia.models import list_models, load
from crossmedia.train import RunDir

from test_contract import SMALL, _sets, scenes  # noqa: F401  (the module-scoped fixture)

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on this machine)")


@cuda
@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("name", list_models())
def test_model_trains_and_validates_on_cuda(name, precision, scenes, tmp_path):  # noqa: F811
    run = tmp_path / "run"
    assert main(["train", "--model", name, "--data", str(scenes), "--out", str(run), "--bits", "16",
                 "--device", "cuda", *_sets("train.epochs=2", "train.val_every=1", "train.batch_size=32",
                                            f"train.precision={precision}", "data.text_field=caption",
                                            *SMALL.get(name, []))]) == 0
    log = RunDir(run).read_log()
    assert len(log) == 2 and all(r["loss"] == r["loss"] for r in log) and "val_score" in log[-1]
    last = torch.load(RunDir(run).checkpoint("last"), weights_only=False)
    assert last["meta"]["epoch"] == 2
    model = load(run)  # loads on the CPU
    assert all(t.device.type == "cpu" for t in model.state_dict().values() if isinstance(t, torch.Tensor))
    assert main(["eval", str(run), "--metrics", "map_all"]) == 0
