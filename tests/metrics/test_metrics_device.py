"""The device (torch) ranking path: exercised on CPU tensors here, on CUDA when present."""

import numpy as np
import pytest
import torch

from crossmedia.metrics import (
    AQDScorer,
    HammingScorer,
    InnerProductScorer,
    PrecomputedScorer,
    Scorer,
    evaluate_ranking,
    recall_at_k,
)

ALL = ["map_all", "map@4", "map@4:min_k_r", "map@4:r", "map@R", "p@3", "p@n", "pr_topn", "pr_radius"]
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


class TorchOut(Scorer):
    """Wraps a scorer so that its chunks come back as CPU tensors (forces the torch path)."""

    def __init__(self, inner):
        self.inner = inner
        self.n_queries, self.n_db, self.name = inner.n_queries, inner.n_db, inner.name
        self.discrete, self.n_bits, self.max_distance = inner.discrete, inner.n_bits, inner.max_distance

    def _chunk(self, s, e):
        return torch.as_tensor(self.inner.distances(s, e))


def case(seed=0, nq=7, nd=50, bits=12):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((nq, bits)), rng.standard_normal((nd, bits)),
            rng.random((nq, 3)) < 0.3, rng.random((nd, 3)) < 0.3)


@pytest.mark.parametrize("tie", ["index", "random", "expected"])
def test_torch_path_equals_numpy_path(tie):
    Bq, Bd, Yq, Yd = case()
    s = HammingScorer(Bq, Bd)
    a = evaluate_ranking(s, Yq, Yd, ALL, tie=tie, seed=2, chunk_size=3)
    b = evaluate_ranking(TorchOut(s), Yq, Yd, ALL, tie=tie, seed=2, chunk_size=3)
    assert a == b
    f = PrecomputedScorer(np.round(Bq @ Bd.T, 1))  # float distances with ties
    a = evaluate_ranking(f, Yq, Yd, ALL[:-1], tie=tie, seed=2, chunk_size=3)
    b = evaluate_ranking(TorchOut(f), Yq, Yd, ALL[:-1], tie=tie, seed=2, chunk_size=3)
    assert a == b
    P = np.random.default_rng(1).random((7, 50)) < 0.1
    ra = recall_at_k(s, P, tie=tie, seed=2).value
    rb = recall_at_k(TorchOut(s), torch.from_numpy(P), tie=tie, seed=2).value
    assert ra == rb


@pytest.mark.cuda
@CUDA
@pytest.mark.parametrize("tie", ["index", "random", "expected"])
def test_cuda_matches_cpu(tie):
    Bq, Bd, Yq, Yd = case(3, nq=20, nd=300, bits=32)
    cpu = evaluate_ranking(HammingScorer(Bq, Bd), Yq, Yd, ALL, tie=tie, seed=1, chunk_size=7)
    tq, td = torch.from_numpy(Bq).cuda(), torch.from_numpy(Bd).cuda()
    s = HammingScorer(tq, td)
    assert s.distances(0, 2).is_cuda
    gpu = evaluate_ranking(s, torch.from_numpy(Yq).cuda(), torch.from_numpy(Yd).cuda(), ALL, tie=tie, seed=1, chunk_size=7)
    assert gpu == cpu


@pytest.mark.cuda
@CUDA
def test_cuda_float_scorers():
    Bq, Bd, Yq, Yd = case(4, nq=10, nd=100, bits=8)
    cpu = evaluate_ranking(InnerProductScorer(Bq, Bd, cosine=True), Yq, Yd, ["map_all", "p@5"])
    gpu = evaluate_ranking(InnerProductScorer(torch.from_numpy(Bq).cuda(), torch.from_numpy(Bd).cuda(), cosine=True),
                           Yq, Yd, ["map_all", "p@5"])
    assert gpu["map_all"]["value"] == pytest.approx(cpu["map_all"]["value"], abs=1e-6)
    rng = np.random.default_rng(0)
    cb, codes = rng.standard_normal((2, 4, 8)), rng.integers(0, 4, (100, 2))
    a = AQDScorer(Bq, cb, codes).distances(0, 10)
    b = AQDScorer(torch.from_numpy(Bq).cuda(), torch.from_numpy(cb).cuda(), torch.from_numpy(codes).cuda()).distances(0, 10)
    np.testing.assert_allclose(b.cpu().numpy(), a, rtol=1e-6, atol=1e-6)
