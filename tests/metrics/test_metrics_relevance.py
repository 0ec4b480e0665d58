import numpy as np
import pytest
import torch

from crossmedia.metrics import relevance


def test_multi_hot_share_one_label():
    Yq = np.array([[1, 0, 1], [0, 0, 0]])
    Yd = np.array([[0, 0, 1], [0, 1, 0], [1, 1, 1]])
    assert relevance(Yq, Yd).tolist() == [[True, False, True], [False, False, False]]


def test_dtypes_agree_with_the_product():
    rng = np.random.default_rng(0)
    Yq = rng.random((7, 70)) < 0.05  # more than 64 labels: several words
    Yd = rng.random((11, 70)) < 0.05
    ref = (Yq.astype(float) @ Yd.astype(float).T) > 0
    for a, b in [(Yq, Yd), (Yq.astype(np.int32), Yd.astype(np.int64)), (Yq.astype(np.float32), Yd.astype(float))]:
        assert np.array_equal(relevance(a, b), ref)
    t = relevance(torch.from_numpy(Yq), torch.from_numpy(Yd))
    assert isinstance(t, torch.Tensor) and np.array_equal(t.numpy(), ref)


@pytest.mark.parametrize("bad", [-1.0, 2.0, 0.5, np.nan, np.inf])
def test_multi_hot_entries_other_than_0_and_1_are_refused(bad):
    good = np.array([[1.0, 0.0], [0.0, 1.0]])
    wrong = good.copy()
    wrong[1, 0] = bad
    for q, d, who in ((wrong, good, "Yq"), (good, wrong, "Yd")):
        with pytest.raises(ValueError, match=f"{who}: multi-hot labels must be 0 or 1"):
            relevance(q, d)


def test_single_label_vectors():
    yq, yd = np.array([0, 2]), np.array([2, 0, 1, 2])
    assert relevance(yq, yd).tolist() == [[False, True, False, False], [True, False, False, True]]
    onehot = np.eye(3)[yd]
    assert relevance(yq, onehot).tolist() == relevance(yq, yd).tolist()
    with pytest.raises(ValueError):
        relevance(np.array([-1]), yd)


def test_inputs_not_modified():
    Yq = np.array([[1.0, 0.0], [0.0, 1.0]])
    Yd = np.array([[1.0, 1.0]])
    cq, cd = Yq.copy(), Yd.copy()
    relevance(Yq, Yd)
    assert np.array_equal(Yq, cq) and np.array_equal(Yd, cd)
