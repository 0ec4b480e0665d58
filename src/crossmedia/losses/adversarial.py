"""Adversarial modality alignment (ACMR, Wang et al. ACM MM 2017; DAFSN's modal discriminator):
a gradient-reversal layer (Ganin & Lempitsky, ICML 2015) in front of a modality classifier.

The discriminator learns to tell image embeddings from text embeddings (modality cross-entropy);
behind the reversal layer the encoders receive the *negated* gradient scaled by λ, so they learn
embeddings the discriminator cannot separate. λ follows Ganin's schedule
λ(p) = 2 / (1 + exp(−10 p)) − 1 with p ∈ [0, 1] the training progress.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["GradientReversal", "grad_reverse", "grl_coefficient", "modality_adversarial_loss"]


class GradientReversal(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient by −λ."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, lambd: float) -> torch.Tensor:
        ctx.lambd = float(lambd)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.lambd * grad, None


def grad_reverse(x: torch.Tensor, lambd: float = 1.0) -> torch.Tensor:
    return GradientReversal.apply(x, lambd)


def grl_coefficient(progress: float, gamma: float = 10.0) -> float:
    """λ(p) = 2 / (1 + exp(−γ p)) − 1 (Ganin & Lempitsky 2015): 0 at the start, → 1 at the end."""
    p = min(max(float(progress), 0.0), 1.0)
    return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0


def modality_adversarial_loss(discriminator, image_emb: torch.Tensor, text_emb: torch.Tensor,
                              lambd: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(modality cross-entropy, discriminator accuracy) for image embeddings (class 0) and text
    embeddings (class 1) passed through the reversal layer with coefficient ``lambd``."""
    x = torch.cat([image_emb, text_emb], 0)
    y = torch.cat([torch.zeros(len(image_emb)), torch.ones(len(text_emb))]).long().to(x.device)
    logits = discriminator(grad_reverse(x, lambd))
    loss = F.cross_entropy(logits, y)
    acc = (logits.argmax(1) == y).float().mean().detach()
    return loss, acc
