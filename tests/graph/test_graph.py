import numpy as np
import pytest
import scipy.sparse as sp
import torch

from crossmedia.graph import (build_correlation_graph, expand, expansion_recovery, node_word_scores, random_walks,
                              skipgram_embeddings, text_scores, transition_counts, walk_cooccurrence,
                              word_correlation)

# 4 images over the words 0 sky, 1 sea, 2 boat, 3 tree
TEXTS = [[0, 1], [1, 2], [0, 1, 2], [3]]


def test_image_word_and_word_word_edges_on_hand_made_data():
    g = build_correlation_graph(TEXTS, n_words=4)
    assert g.n_nodes == 8 and (g.adj != g.adj.T).nnz == 0
    iw = g.image_word().toarray()
    np.testing.assert_array_equal(iw, [[1, 1, 0, 0], [0, 1, 1, 0], [1, 1, 1, 0], [0, 0, 0, 1]])
    ww = g.word_word().toarray()
    # co-occurrence counts / sqrt(df_a df_b): df = [2, 3, 2, 1]; sky–sea 2, sky–boat 1, sea–boat 2
    exp = np.zeros((4, 4))
    exp[0, 1] = exp[1, 0] = 2 / np.sqrt(6)
    exp[0, 2] = exp[2, 0] = 1 / 2
    exp[1, 2] = exp[2, 1] = 2 / np.sqrt(6)
    np.testing.assert_allclose(ww, exp)
    assert g.image_image().nnz == 0
    assert g.summary() == {"images": 4, "words": 4, "image_word_edges": 8, "word_word_edges": 3, "image_image_edges": 0}


def test_tfidf_weights_and_excluded_words():
    g = build_correlation_graph(TEXTS, n_words=4, weighting="tfidf", word_word_weight=0)
    iw = g.image_word().toarray()
    idf = np.log(4 / np.array([2, 3, 2, 1]))
    np.testing.assert_allclose(iw[0], [idf[0] / 2, idf[1] / 2, 0, 0])
    np.testing.assert_allclose(iw[3], [0, 0, 0, idf[3]])
    assert g.word_word().nnz == 0
    g2 = build_correlation_graph(TEXTS, n_words=4, exclude_words=(1,))
    assert g2.image_word().toarray()[:, 1].sum() == 0 and g2.word_word().toarray()[1].sum() == 0
    # bag-of-words input gives the same graph as word-id lists
    bow = np.zeros((4, 4), np.float32)
    for i, ws in enumerate(TEXTS):
        bow[i, ws] = 1
    assert (build_correlation_graph(bow, 4).adj != build_correlation_graph(TEXTS, 4).adj).nnz == 0


def test_visual_knn_edges():
    feats = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], np.float32)
    g = build_correlation_graph(TEXTS, n_words=4, visual_features=feats, knn=1, knn_weight=2.0)
    ii = g.image_image().toarray()
    assert set(zip(*np.nonzero(ii))) == {(0, 1), (1, 0), (2, 3), (3, 2)}
    assert np.all(ii[ii > 0] <= 2.0)
    with pytest.raises(ValueError):
        build_correlation_graph(TEXTS, n_words=4, visual_features=feats[:3], knn=1)


def test_semantic_word_edges_from_word_vectors():
    # 5 words: sky, sea, boat, tree, forest; "forest" (4) never occurs in a training text
    vecs = np.array([[0, 0], [1, 0.1], [1, 0.2], [-1, 1], [-1, 0.9]], np.float32)  # sky (0) has no vector
    base = build_correlation_graph(TEXTS, n_words=5)
    g = build_correlation_graph(TEXTS, n_words=5, word_vectors=vecs, word_knn=1, word_knn_weight=3.0)
    assert (g.adj != g.adj.T).nnz == 0
    extra = (g.word_word() - base.word_word()).toarray()
    pairs = set(zip(*np.nonzero(extra > 1e-9)))
    assert pairs == {(1, 2), (2, 1), (3, 4), (4, 3)}  # nearest neighbours by cosine; sky (no vector) gets none
    assert np.all(extra <= 3.0 + 1e-6) and extra[3, 4] > 0
    # the unseen word is now reachable from the text words it resembles
    assert base.adj[base.n_images + 4].nnz == 0 and g.adj[g.n_images + 4].nnz > 0
    # excluded words get no semantic edges either; no vectors = the graph without them
    g2 = build_correlation_graph(TEXTS, n_words=5, word_vectors=vecs, word_knn=1, exclude_words=(3,))
    assert g2.word_word().toarray()[3].sum() == 0
    assert (build_correlation_graph(TEXTS, n_words=5, word_knn=1).adj != base.adj).nnz == 0
    with pytest.raises(ValueError, match="word_vectors"):
        build_correlation_graph(TEXTS, n_words=5, word_vectors=vecs[:4], word_knn=1)


def test_walk_transition_statistics_match_edge_weights():
    g = build_correlation_graph(TEXTS, n_words=4, weighting="tfidf")
    walks = random_walks(g.adj, walks_per_node=400, length=20, seed=0)
    assert walks.shape == (8 * 400, 20)
    counts = transition_counts(walks, g.n_nodes).toarray()
    adj = g.adj.toarray()
    for u in range(g.n_nodes):
        if counts[u].sum() < 500:
            continue
        expected = adj[u] / adj[u].sum()
        observed = counts[u] / counts[u].sum()
        assert np.all(observed[adj[u] == 0] == 0)  # only along edges
        np.testing.assert_allclose(observed, expected, atol=0.03)
    # deterministic for a seed, different for another
    assert np.array_equal(walks, random_walks(g.adj, 400, 20, seed=0))
    assert not np.array_equal(walks, random_walks(g.adj, 400, 20, seed=1))


def test_walks_stop_at_isolated_nodes():
    adj = sp.csr_matrix(np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]], float))
    w = random_walks(adj, walks_per_node=2, length=5, seed=0)
    iso = w[w[:, 0] == 2]
    assert np.all(iso[:, 1:] == -1)
    assert np.all(w[w[:, 0] != 2] >= 0)
    co = walk_cooccurrence(w, 3, window=2).toarray()
    assert co[2].sum() == 0 and co[0, 1] > 0 and np.array_equal(co, co.T)


def test_skipgram_embeddings_place_graph_neighbours_close():
    # two disconnected cliques: embeddings of the same clique are closer than across
    a = np.zeros((8, 8))
    a[:4, :4] = 1
    a[4:, 4:] = 1
    np.fill_diagonal(a, 0)
    walks = random_walks(sp.csr_matrix(a), walks_per_node=20, length=20, seed=0)
    e = skipgram_embeddings(walks, 8, dim=8, window=3, epochs=5, seed=0)
    assert e.shape == (8, 8) and e.dtype == np.float32
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    s = e @ e.T
    within = np.mean([s[i, j] for i in range(4) for j in range(4) if i != j])
    across = np.mean(s[:4, 4:])
    assert within > across + 0.3
    np.testing.assert_array_equal(e, (lambda x: x / np.linalg.norm(x, axis=1, keepdims=True))(
        skipgram_embeddings(walks, 8, dim=8, window=3, epochs=5, seed=0)))


def test_expand_adds_top_k_absent_words_with_weight():
    import torch

    bow = torch.tensor([[1.0, 0, 0, 0, 0], [0, 0, 0, 0, 0]])
    scores = torch.tensor([[9.0, 0.8, 0.5, 0.1, -0.2], [0.9, 0.9, 0.9, 0.9, 0.9]])
    out = expand(bow, scores, top_k=2, weight=0.5)
    assert out.tolist() == [[1.0, 0.5, 0.5, 0, 0], [0, 0, 0, 0, 0]]  # empty text stays empty
    out = expand(bow, scores, top_k=4, weight=0.5, weighting="similarity", min_score=0.2)
    assert torch.allclose(out, torch.tensor([[1.0, 0.4, 0.25, 0, 0], [0, 0, 0, 0, 0]]))
    allowed = torch.tensor([True, False, True, True, True])
    assert expand(bow, scores, top_k=1, weight=0.5, allowed=allowed).tolist()[0] == [1.0, 0, 0.5, 0, 0]
    corr = torch.eye(5).roll(1, 1)
    assert torch.equal(text_scores(bow, corr)[0], corr[0])


def test_text_scores_is_the_mean_correlation_row_of_the_present_words():
    import torch

    g = torch.Generator().manual_seed(0)
    bow = (torch.rand(6, 40, generator=g) < 0.1).float() * torch.rand(6, 40, generator=g)
    bow[2] = 0  # an empty text scores 0 everywhere
    corr = torch.randn(40, 40, generator=g)
    present = (bow > 0).float()
    dense = (present @ corr) / present.sum(1, keepdim=True).clamp_min(1.0)
    out = text_scores(bow, corr)
    assert out.shape == (6, 40) and torch.allclose(out, dense, atol=1e-6)
    assert torch.equal(out[2], torch.zeros(40))


def test_node_and_word_scores_shapes():
    g = build_correlation_graph(TEXTS, n_words=4)
    walks = random_walks(g.adj, 10, 10, seed=0)
    e = skipgram_embeddings(walks, g.n_nodes, dim=4, epochs=1)
    assert node_word_scores(g, embeddings=e).shape == (4, 4)
    co = walk_cooccurrence(walks, g.n_nodes, 3)
    s = node_word_scores(g, cooccurrence=co)
    assert s.shape == (4, 4) and s[3, 3] > s[3, 0]  # image 3 only reaches tree
    w = word_correlation(g, embeddings=e)
    assert w.shape == (4, 4) and np.all(np.diag(w) == 0)
    r = expansion_recovery(added=np.array([[0, 1], [1, 0]]), noisy=np.array([[1, 0], [0, 0]]),
                           true=np.array([[1, 1], [0, 1]]))
    assert r["precision"] == 0.5 and r["recall"] == 0.5 and r["chance"] == pytest.approx(2 / 3)


def test_cooccurrence_restricted_to_kept_nodes():
    g = build_correlation_graph(TEXTS, n_words=4)
    walks = random_walks(g.adj, 10, 12, seed=0)
    full = walk_cooccurrence(walks, g.n_nodes, 3).toarray()
    keep = np.arange(g.n_nodes) >= 4
    sub = walk_cooccurrence(walks, g.n_nodes, 3, keep=keep).toarray()
    np.testing.assert_array_equal(sub[4:, 4:], full[4:, 4:])
    assert sub[:4].sum() == 0 and sub[:, :4].sum() == 0


def test_image_expansion_adds_the_word_of_the_visual_neighbours():
    """Images 0–2 are tagged {2, 3}, image 3 (which looks exactly like them) lost tag 3; images
    4–6 are tagged {4, 5} and look different. In the DeepWalk embedding of the image–word graph
    with visual kNN edges, the absent word nearest image 3's node is 3."""
    from crossmedia.graph import expansion_recovery, image_expansion, random_walks, skipgram_embeddings

    V = 6
    tags = [[2, 3], [2, 3], [2, 3], [2], [4, 5], [4, 5], [4, 5]]
    bow = np.zeros((7, V), dtype=np.float32)
    for i, ws in enumerate(tags):
        bow[i, ws] = 1
    feats = np.array([[1, 0, 0]] * 4 + [[0, 1, 0]] * 3, dtype=np.float32) + 0.01 * np.arange(7)[:, None]
    g = build_correlation_graph(bow, V, visual_features=feats, knn=2, exclude_words=(0, 1))
    walks = random_walks(g.adj, 40, 20, seed=0)
    emb = skipgram_embeddings(walks, g.n_nodes, dim=8, window=3, epochs=20, seed=0)
    allowed = torch.ones(V, dtype=torch.bool)
    allowed[:2] = False
    ids, vals = image_expansion(g, emb, bow, top_k=1, weight=0.5, allowed=allowed, chunk=3)
    assert ids.shape == vals.shape == (7, 1)
    assert int(ids[3, 0]) == 3 and float(vals[3, 0]) == 0.5
    for i in range(7):  # never a word already present, never <pad>/<unk>
        assert vals[i, 0] == 0 or (bow[i, int(ids[i, 0])] == 0 and int(ids[i, 0]) >= 2)
    sc = node_word_scores(g, embeddings=emb)  # (images, words)
    assert sc[3, 3] > max(sc[3, 4], sc[3, 5])  # its visual group's word, not the other group's
    expanded = torch.from_numpy(bow).scatter_add(1, ids, vals).numpy()
    true = bow.copy()
    true[3, 3] = 1
    r = expansion_recovery((expanded > 0) & (bow == 0), bow, true)
    assert r["recall"] == 1.0 and r["precision"] == pytest.approx(1 / r["added"])
    with pytest.raises(ValueError, match="bow"):
        image_expansion(g, emb, bow[:3], top_k=1, weight=0.5)
