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

Two configurations ship:

* the **harness default** (``default_config`` and the bench's training settings): text net
  BoW → 1024 (ReLU, dropout 0.5) → bits, on features the image net the same MLP; Adam at the
  bench's lr with betas (0.9, 0.999), exponential schedule, shuffled batches covering every
  training item once per pass.
* the **published configuration** ``--config dcmh-paper`` (``crossmedia/configs/dcmh-paper.yaml``),
  as the authors' released TensorFlow code runs it (jiangqy/DCMH-CVPR2017, ``DCMH_demo.py``):
  γ = η = 1, unweighted likelihood, Algorithm 1's alternation; text net BoW → 8192 (ReLU) →
  bits with no dropout (``text_hidden: 8192``, ``dropout: 0``); plain SGD
  (``optimizer: sgd``), learning rate linear from 10^-1.5 to 1e-6 (``lr_schedule: linear``);
  each step a fresh random batch of 128 (``batch_order: sample``), n // 128 steps per pass
  (``drop_last``); 500 outer iterations = 1000 trainer epochs.

Differences that remain: the released code keeps the last iterate (no model selection); the
preset selects on the validation split under ``train.val_rule`` after every outer iteration.
Its learning rate changes once per outer iteration, here once per pass (the image and the text
pass of one iteration differ by half a step of the linear schedule). Its image net is CNN-F
pretrained on ImageNet (here the small CNN on pixels or, on features, the same MLP as the text
net, 8192 wide); its layers start from N(0, 0.01²) weights and biases and F, G from N(0, 1),
here PyTorch's ``nn.Linear`` default and N(0, 0.01²).
"""

from __future__ import annotations

import copy

import torch

from ..errors import ConfigError
from ..losses import label_similarity, stored_likelihood_loss
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
            self.b_step(ctx.ranks)
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
        lik = stored_likelihood_loss(x, other, s, scale=0.5, pos_weight=self.pos_weight) / norm
        quant = ((b - x) ** 2).sum() / norm
        col = x.sum(0) + (own.sum(0) - own[pos].sum(0))
        balance = (col ** 2).sum() / (norm * n)
        loss = lik + gamma * quant + eta * balance
        return {"loss": loss, "likelihood": lik.detach(), "quantization": quant.detach(), "balance": balance.detach()}
