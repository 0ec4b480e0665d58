"""DCMH — deep cross-modal hashing (Jiang & Li, CVPR 2017), with the paper's optimisation.

Objective (DCMH eq. 3), F and G the image and text nets' outputs for the n training items:

    L = −Σ_ij (s_ij θ_ij − log(1 + e^θ_ij)) + γ(‖B − F‖² + ‖B − G‖²) + η(‖F·1‖² + ‖G·1‖²),
    θ_ij = ½ F_i·G_j,  B = sign(γ(F + G))

Algorithm 1 of the paper alternates: a full pass updating the image net with G fixed, a full
pass updating the text net with F fixed, then the closed-form B-step. Here one trainer epoch is
one such pass (``schedule: alternate``: even epochs image net, odd epochs text net; B refreshed
after every text pass), so ``train.epochs`` = 2 × DCMH's outer iterations. ``schedule: joint``
updates both nets in every mini-batch instead (each against the other's stored outputs — the
``twotower`` model's schedule).

Shares the towers, per-item state (F, G, B) and normalisation with :mod:`.twotower` (DCMH's sums
divided by batch × n); what differs is DCMH's own schedule and its unweighted likelihood
(``pos_weight: null``; ``twotower`` weights similar pairs by #dissimilar/#similar). DCMH's
image net is CNN-F pretrained on ImageNet and its text net BoW → 8192 → c; here the shared small
CNN (pixels) or an MLP on precomputed features, and BoW → ``text_hidden`` → c.
Retrieval: Hamming distance between sign codes.
"""

from __future__ import annotations

import copy

import torch

from ..errors import ConfigError
from ..losses import label_similarity, pairwise_likelihood_loss
from .base import DataInfo
from .registry import register_model
from .twotower import TwoTowerHashing


def _defaults() -> dict:
    cfg = copy.deepcopy(TwoTowerHashing.default_config)
    cfg["pos_weight"] = None  # DCMH's likelihood is unweighted
    cfg["schedule"] = "alternate"  # alternate (DCMH Algorithm 1) | joint
    return cfg


@register_model("dcmh")
class DCMH(TwoTowerHashing):
    default_config = _defaults()

    def __init__(self, config: dict, info: DataInfo):
        if config.get("schedule") not in ("alternate", "joint"):
            raise ConfigError(f"model.schedule: expected alternate or joint, got {config.get('schedule')!r}")
        super().__init__(config, info)

    def _phase(self, epoch: int) -> str:
        if self.config["schedule"] == "joint":
            return "both"
        return "image" if epoch % 2 == 0 else "text"

    def on_epoch_start(self, epoch: int, ctx) -> dict[str, float]:
        if self.config["schedule"] == "joint":
            return super().on_epoch_start(epoch, ctx)
        # B-step after each (image pass, text pass) round: at the start of every even epoch
        if epoch > 0 and epoch % 2 == 0 and self.F_all.numel():
            self.B_all = torch.where(self.F_all + self.G_all >= 0, 1.0, -1.0)
        return {"phase_image": float(self._phase(epoch) == "image")}

    def training_step(self, batch: dict, epoch: int, progress: float) -> dict[str, torch.Tensor]:
        phase = self._phase(epoch)
        if phase == "both":
            return super().training_step(batch, epoch, progress)
        pos = batch["pos"]
        n = self.F_all.shape[0]
        s = label_similarity(batch["labels"], self.train_labels)
        b = self.B_all[pos]
        gamma, eta = float(self.config["gamma"]), float(self.config["eta"])
        if phase == "image":
            x, own, other = self.encode_image(batch), self.F_all, self.G_all
            self.memory.write(pos, image=x)
        else:
            x, own, other = self.encode_text(batch), self.G_all, self.F_all
            self.memory.write(pos, text=x)
        norm = float(x.shape[0] * n)
        lik = pairwise_likelihood_loss(x, other, s, scale=0.5, reduction="sum", pos_weight=self.pos_weight) / norm
        quant = ((b - x) ** 2).sum() / norm
        col = x.sum(0) + (own.sum(0) - own[pos].sum(0))
        balance = (col ** 2).sum() / (norm * n)
        loss = lik + gamma * quant + eta * balance
        return {"loss": loss, "likelihood": lik.detach(), "quantization": quant.detach(), "balance": balance.detach()}
