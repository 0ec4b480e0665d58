import numpy as np
import pytest
import torch

from crossmedia.metrics import HammingScorer, PrecomputedScorer, coco_1k_5k, recall_at_k, rsum


def caption_case():
    # 2 images x 6 captions; image 0 <-> captions 0,1,2, image 1 <-> captions 3,4,5
    P = np.zeros((2, 6), dtype=bool)
    P[0, :3] = P[1, 3:] = True
    # image 0 ranks captions [3, 0, 4, 1, 5, 2]; image 1 ranks [3, 4, 5, 0, 1, 2]
    order_i2t = [[3, 0, 4, 1, 5, 2], [3, 4, 5, 0, 1, 2]]
    D = np.zeros((2, 6))
    for q, order in enumerate(order_i2t):
        D[q, order] = np.arange(6)
    return P, D


def test_recall_at_k_medr_meanr():
    P, D = caption_case()
    r = recall_at_k(PrecomputedScorer(D), P, ks=(1, 5, 10))
    assert r.value["R@1"] == pytest.approx(50.0)
    assert r.value["R@5"] == pytest.approx(100.0) and r.value["R@10"] == pytest.approx(100.0)
    assert r.per_query.tolist() == [2.0, 1.0]
    assert r.value["medr"] == 1.0  # floor(median(2, 1)) = floor(1.5)
    assert r.value["meanr"] == pytest.approx(1.5)
    # T->I: each caption ranks the two images; caption j's image is j // 3
    Dt = np.array([[0, 1], [1, 0], [1, 0], [1, 0], [0, 1], [0, 1]], dtype=float)  # ranks 1,2,2,1,2,2
    t = recall_at_k(PrecomputedScorer(Dt), P.T, ks=(1, 5, 10))
    assert t.value["R@1"] == pytest.approx(100 * 2 / 6)
    assert t.value["medr"] == 2.0 and t.value["meanr"] == pytest.approx(10 / 6)
    assert rsum(r, t) == pytest.approx(50 + 100 + 100 + 100 * 2 / 6 + 100 + 100)
    assert rsum(r.to_dict(), t.to_dict()) == pytest.approx(rsum(r, t))
    assert isinstance(recall_at_k(PrecomputedScorer(torch.from_numpy(D)), torch.from_numpy(P)).value["R@1"], float)


def test_recall_ties_and_empty():
    D = np.zeros((2, 4))
    P = np.array([[0, 0, 1, 0], [0, 0, 0, 0]], dtype=bool)
    idx = recall_at_k(PrecomputedScorer(D), P, ks=(1, 3))
    assert idx.value["R@3"] == pytest.approx(50.0) and idx.n_empty == 1  # rank 3 under index ties
    skip = recall_at_k(PrecomputedScorer(D), P, ks=(1, 3), empty_query="skip")
    assert skip.value["R@3"] == pytest.approx(100.0) and skip.value["medr"] == 3.0
    exp = recall_at_k(PrecomputedScorer(D), P, ks=(1, 3), tie="expected", empty_query="skip")
    assert exp.value["R@1"] == pytest.approx(25.0) and exp.value["R@3"] == pytest.approx(75.0)
    assert exp.value["meanr"] == pytest.approx(2.5)


def test_coco_refuses_without_5000_images():
    with pytest.raises(ValueError, match="5,000"):
        coco_1k_5k(np.zeros((4999, 4)), np.zeros((4999 * 5, 4)))


def test_coco_1k_5k_perfect_codes():
    n = 5000
    ids = np.arange(n)
    bits = ((ids[:, None] >> np.arange(16)) & 1) * 2 - 1  # unique 16-bit code per image
    caps = np.repeat(bits, 5, axis=0)  # captions 5i..5i+4 share image i's code
    res = coco_1k_5k(bits, caps, scorer=lambda q, d: HammingScorer(q, d))
    for split in ("1k", "5k"):
        assert res[split]["i2t"]["R@1"] == pytest.approx(100.0)
        assert res[split]["t2i"]["R@1"] == pytest.approx(100.0)
        assert res[split]["rsum"] == pytest.approx(600.0)
        assert res[split]["t2i"]["medr"] == 1.0 and res[split]["i2t"]["meanr"] == 1.0
    assert len(res["1k"]["folds"]) == 5
    assert [f["n_images"] for f in res["1k"]["folds"]] == [1000] * 5
    assert [f["n_captions"] for f in res["1k"]["folds"]] == [5000] * 5
    assert res["5k"]["n_captions"] == 25000
