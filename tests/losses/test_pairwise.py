

def test_similar_fraction_counts_without_the_n_by_n_matrix():
    import torch

    from crossmedia.losses import label_similarity, similar_fraction

    g = torch.Generator().manual_seed(0)
    labels = (torch.rand(300, 6, generator=g) < 0.2).float()
    exact = float(label_similarity(labels, labels).sum()) / 300 ** 2
    assert similar_fraction(labels) == float(label_similarity(labels, labels).mean())  # small: the matrix itself
    assert abs(similar_fraction(labels, chunk=64) - exact) < 1e-12  # blocks of 64 rows: exact counts
