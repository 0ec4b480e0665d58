"""Batch invariance: a query's scores and top-k are bit-for-bit the same whether it is searched
alone or in a batch of any size, at any position (what lets the service micro-batch concurrent
requests and still answer exactly as a lone search)."""

import numpy as np
import pytest
import torch

from crossmedia.engines import AQDEngine, FloatEngine
from crossmedia.engines.base import QUERY_BLOCK, in_query_blocks
from crossmedia.engines.shards import device_engine
from crossmedia.engines.torch_scan import TorchAQDEngine, TorchFloatEngine

D = 48


def _engines():
    rng = np.random.default_rng(3)
    cb = rng.standard_normal((4, 256, D)).astype(np.float32)
    cb3 = rng.standard_normal((3, 256, D)).astype(np.float32)  # unpaired tables
    codes = rng.integers(0, 256, (700, 4)).astype(np.uint8)
    vecs = rng.standard_normal((700, D)).astype(np.float32)
    return {
        "aqd-numpy": AQDEngine(cb, codes),
        "aqd-numpy-unpaired": AQDEngine(cb3, codes[:, :3]),
        "aqd-numpy-torch-backend": AQDEngine(cb, codes, backend="torch"),
        "aqd-torch": TorchAQDEngine(cb, codes, device="cpu", kernel="torch", chunk=256),
        "aqd-torch-unpaired": TorchAQDEngine(cb3, codes[:, :3], device="cpu", kernel="torch"),
        "aqd-sharded": device_engine(codes, "cpu*2", lambda part, dev: TorchAQDEngine(cb, part, device=dev, kernel="torch")),
        "float-numpy": FloatEngine(vecs, chunk=300),
        "float-numpy-cosine": FloatEngine(vecs, metric="cosine"),
        "float-torch": TorchFloatEngine(vecs, device="cpu", chunk=300),
    }


@pytest.mark.parametrize("name", list(_engines()))
def test_a_query_gets_the_same_bits_alone_and_in_any_batch(name):
    eng = _engines()[name]
    q = np.random.default_rng(4).standard_normal((QUERY_BLOCK + 7, D)).astype(np.float32)
    alone = [eng.search(q[i], 10) for i in range(len(q))]
    alone_scores = np.concatenate([eng.scores(q[i : i + 1]) for i in range(len(q))])
    for lo, hi in [(0, len(q)), (0, 3), (5, 6), (2, QUERY_BLOCK + 1)]:
        s, r = eng.search(q[lo:hi], 10)
        for j, i in enumerate(range(lo, hi)):
            np.testing.assert_array_equal(r[j], alone[i][1][0], err_msg=f"{name}: rows of query {i} in batch {lo}:{hi}")
            np.testing.assert_array_equal(s[j], alone[i][0][0], err_msg=f"{name}: scores of query {i} in batch {lo}:{hi}")
        np.testing.assert_array_equal(eng.scores(q[lo:hi]), alone_scores[lo:hi], err_msg=f"{name}: scores() {lo}:{hi}")


def test_query_blocks_pad_and_cut():
    calls = []

    def fn(b):
        calls.append(b.shape[0])
        return b * 2

    x = np.arange(2 * (QUERY_BLOCK + 3), dtype=np.float32).reshape(-1, 2)
    np.testing.assert_array_equal(in_query_blocks(x, fn), x * 2)
    assert calls == [QUERY_BLOCK, QUERY_BLOCK]
    t = torch.arange(6.0).reshape(3, 2)
    assert torch.equal(in_query_blocks(t, lambda b: b + 1), t + 1)
    assert in_query_blocks(np.zeros((0, 2), np.float32), fn).shape == (0, 2)
