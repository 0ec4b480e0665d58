import numpy as np
import pytest
import torch
from PIL import Image

from crossmedia.data import Vocabulary
from crossmedia.data.tensors import TensorData, load_images
from crossmedia.errors import DataError


def test_tensor_data_batches(tiny_dataset):
    ds = tiny_dataset
    vocab = Vocabulary.build([ds.texts("tags")[i] for i in ds.protocol()["train"]])
    td = TensorData(ds, vocab, "tags")
    assert td.images.dtype == torch.uint8 and td.images.shape == (40, 3, 24, 24)
    b = td.batch(np.array([3, 1]))
    assert b["image"].dtype == torch.float32 and float(b["image"].max()) <= 1.0
    assert torch.equal(b["labels"], torch.from_numpy(ds.labels[[3, 1]].astype(np.float32)))
    assert b["bow"].shape == (2, len(vocab))
    for j, i in enumerate([3, 1]):
        assert b["lengths"][j] == len(ds.items[i]["tags"])
    np.testing.assert_array_equal(np.asarray(Image.open(ds.root / ds.items[3]["image"])).transpose(2, 0, 1),
                                  td.images[3].numpy())


def test_bad_image_reported(tmp_path):
    p = tmp_path / "x.png"
    p.write_bytes(b"not a png")
    with pytest.raises(DataError, match="x.png: cannot decode image"):
        load_images([p])
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    Image.new("RGB", (9, 9)).save(tmp_path / "b.png")
    with pytest.raises(DataError, match="b.png: image is 9x9"):
        load_images([tmp_path / "a.png", tmp_path / "b.png"])
    assert load_images([tmp_path / "a.png", tmp_path / "b.png"], size=8).shape == (2, 3, 8, 8)
