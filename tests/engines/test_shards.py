"""Shards: items split over several devices (here: CPU shards), the shards' top-k merged —
equal to the single engine."""

import numpy as np
import pytest

from crossmedia.engines import AQDEngine, FloatEngine, HammingEngine, pack_bits
from crossmedia.engines.torch_scan import TorchAQDEngine, TorchFloatEngine, TorchHammingEngine
from crossmedia.engines.shards import ShardedEngine, device_engine, merge_shard_results, shard_bounds


def test_shard_bounds_cover_all_items():
    b = shard_bounds(10, 3)
    assert b[0] == 0 and b[-1] == 10 and np.all(np.diff(b) >= 3)


def test_merge_shard_results_offsets_and_padding():
    a = (np.array([[3.0, 1.0]], np.float32), np.array([[0, 1]]))
    b = (np.array([[3.0, -np.inf]], np.float32), np.array([[0, -1]]))
    s, r = merge_shard_results([a, b], [0, 5], 4)
    assert r.tolist() == [[0, 5, 1, -1]] and s[0, :3].tolist() == [3.0, 3.0, 1.0] and np.isneginf(s[0, 3])


@pytest.mark.parametrize("kind", ["quantized", "binary", "real"])
def test_two_cpu_shards_equal_single_engine(kind):
    rng = np.random.default_rng(0)
    q = rng.standard_normal((4, 16)).astype(np.float32)
    if kind == "quantized":
        cb = rng.standard_normal((4, 256, 16)).astype(np.float32)
        db = rng.integers(0, 256, (1001, 4)).astype(np.uint8)
        db[400:700] = db[0]  # ties spanning the shard boundary
        ref, make = AQDEngine(cb, db), lambda part, dev: TorchAQDEngine(cb, part, device=dev)
    elif kind == "binary":
        db = pack_bits(rng.standard_normal((1001, 16)))
        ref, make = HammingEngine(db, 16), lambda part, dev: TorchHammingEngine(part, 16, device=dev)
    else:
        db = rng.standard_normal((1001, 16)).astype(np.float32)
        ref, make = FloatEngine(db), lambda part, dev: TorchFloatEngine(part, device=dev)
    eng = device_engine(db, "cpu*2", make)
    assert isinstance(eng, ShardedEngine) and eng.ntotal == 1001 and eng.offsets == [0, 500]
    own = eng.scores(q)
    np.testing.assert_allclose(own, ref.scores(q), rtol=1e-5, atol=1e-5)
    s, r = eng.search(q, 30)
    rs, rr = ref.search(q, 30)
    np.testing.assert_allclose(s, rs, rtol=1e-5, atol=1e-5)
    for i in range(len(q)):  # exact tie policy on its own scores (table sums may differ in the last ulp)
        order = np.lexsort((np.arange(1001), -own[i].astype(np.float64)))[:30]
        assert r[i].tolist() == order.tolist()
    if kind != "real":
        assert np.array_equal(r, rr)
