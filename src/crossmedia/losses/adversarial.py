"""Adversarial modality invariance through a gradient-reversal layer (Ganin & Lempitsky ICML
2015), as ACMR (Wang et al. ACM MM 2017) and DAFSN use it: a modality classifier learns to tell
image embeddings from text embeddings; the reversed gradient pushes the encoders to make them
indistinguishable. The reversal coefficient follows Ganin's schedule l(p) = 2/(1 + e^(−10p)) − 1
over the training progress p ∈ [0, 1]."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, coeff):
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.coeff * grad, None


def grad_reverse(x: torch.Tensor, coeff: float = 1.0) -> torch.Tensor:
    """Identity forward; gradient multiplied by −coeff backward."""
    return _GradReverse.apply(x, float(coeff))


def grl_coefficient(progress: float, gamma: float = 10.0) -> float:
    """Ganin's schedule 2/(1 + exp(−γ p)) − 1 (0 at the start, → 1 at the end)."""
    return 2.0 / (1.0 + math.exp(-gamma * float(progress))) - 1.0


def modality_adversarial_loss(discriminator, u: torch.Tensor, v: torch.Tensor, coeff: float) -> torch.Tensor:
    """Cross-entropy of ``discriminator`` (R^d → 2 logits) labelling image embeddings ``u`` 0 and
    text embeddings ``v`` 1, computed behind a gradient reversal of strength ``coeff``: minimising
    it trains the discriminator and, reversed, makes the encoders fool it."""
    x = grad_reverse(torch.cat([u, v]), coeff)
    target = torch.cat([torch.zeros(len(u), dtype=torch.long, device=u.device),
                        torch.ones(len(v), dtype=torch.long, device=v.device)])
    return F.cross_entropy(discriminator(x), target)
