import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from crossmedia.metrics import HammingScorer, binarize, hamming_packed, hamming_pm1, pack_bits

FAST = settings(max_examples=50, deadline=None)


def test_binarize_zero_is_plus_one_never_zero():
    x = np.array([[-2.0, -0.0, 0.0, 1e-9, 3.0]])
    b = binarize(x)
    assert b.dtype == np.int8
    assert b.tolist() == [[-1, 1, 1, 1, 1]]
    t = binarize(torch.tensor(x))
    assert t.dtype == torch.int8 and t.tolist() == [[-1, 1, 1, 1, 1]]


def test_pack_bits_layout_and_shape():
    B = np.array([[1, -1, -1, -1, -1, -1, -1, -1, 1, 1]])  # bits 0 and 8, 9
    P = pack_bits(B)
    assert P.dtype == np.uint8 and P.shape == (1, 2)
    assert P.tolist() == [[1, 3]]
    assert pack_bits(torch.tensor(B)).tolist() == [[1, 3]]


def test_hamming_hand_values():
    Bq = np.array([[1, 1, 1, 1], [-1, -1, -1, -1]])
    Bd = np.array([[1, 1, 1, 1], [-1, 1, 1, 1], [-1, -1, 1, 1], [-1, -1, -1, -1]])
    expect = [[0, 1, 2, 4], [4, 3, 2, 0]]
    H = hamming_pm1(Bq, Bd)
    assert H.dtype == np.int32 and H.tolist() == expect
    assert hamming_packed(pack_bits(Bq), pack_bits(Bd)).tolist() == expect


def test_hamming_pm1_rejects_zero_codes():
    with pytest.raises(ValueError, match="binarize"):
        hamming_pm1(np.array([[1, 0]]), np.array([[1, 1]]))


@FAST
@given(st.integers(1, 130), st.integers(1, 6), st.integers(1, 9), st.integers(0, 2**31 - 1))
def test_packed_equals_pm1(b, nq, nd, seed):
    rng = np.random.default_rng(seed)
    Bq = binarize(rng.standard_normal((nq, b)))
    Bd = binarize(rng.standard_normal((nd, b)))
    H1 = hamming_pm1(Bq, Bd)
    H2 = hamming_packed(pack_bits(Bq), pack_bits(Bd))
    assert H1.dtype == H2.dtype == np.int32
    assert np.array_equal(H1, H2)
    T1 = hamming_pm1(torch.from_numpy(Bq), torch.from_numpy(Bd))
    T2 = hamming_packed(pack_bits(torch.from_numpy(Bq)), pack_bits(torch.from_numpy(Bd)))
    assert T1.dtype == T2.dtype == torch.int32
    assert np.array_equal(T1.numpy(), H1) and np.array_equal(T2.numpy(), H1)
    s = HammingScorer(Bq, Bd)
    assert np.array_equal(s.distances(0, nq), H1)
    sp = HammingScorer(pack_bits(Bq), pack_bits(Bd), packed=True, n_bits=b)
    assert np.array_equal(sp.distances(0, nq), H1)


def test_hamming_scorer_kinds_and_real_codes():
    rng = np.random.default_rng(0)
    Xq, Xd = rng.standard_normal((3, 20)), rng.standard_normal((5, 20))
    ref = hamming_pm1(binarize(Xq), binarize(Xd))
    s = HammingScorer(Xq, Xd)  # real codes are binarised x >= 0 -> +1
    assert s.n_bits == 20 and s.discrete and s.n_queries == 3 and s.n_db == 5
    assert np.array_equal(s.distances(1, 3), ref[1:3])
    st_ = HammingScorer(torch.from_numpy(Xq), torch.from_numpy(Xd))
    out = st_.distances(0, 3)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.int32
    assert np.array_equal(out.numpy(), ref)
    with pytest.raises(ValueError):
        HammingScorer(Xq, Xd[:, :10])
