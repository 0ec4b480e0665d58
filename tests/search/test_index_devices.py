"""An index on devices (``Index.load(device=...)``; here two CPU shards): the codec's device
engine, items split in shards, the same hits as on the CPU."""

import numpy as np
import pytest

from crossmedia.engines.shards import ShardedEngine
from crossmedia.errors import UserError
from crossmedia.search import Index


def test_index_on_cpu_shards_same_hits(cmsl_index):
    ix2 = Index.load(cmsl_index.path, device="cpu*2")
    for query in ("red circle", "blue square"):
        a = cmsl_index.search_text(query, k=8)
        b = ix2.search_text(query, k=8)
        assert [h.id for h in a] == [h.id for h in b]
        np.testing.assert_allclose([h.score for h in a], [h.score for h in b], rtol=1e-5, atol=1e-5)
    eng = ix2.engine("image")
    assert isinstance(eng, ShardedEngine) and len(eng.shards) == 2
    with pytest.raises(UserError, match="CPU only"):
        ix2.codec.engine(np.asarray(ix2.arrays["image_db"]), "faiss", device="cpu*2")


def test_index_device_errors(cmsl_index):
    with pytest.raises(UserError, match="--device"):
        Index.load(cmsl_index.path, device="tpu")
