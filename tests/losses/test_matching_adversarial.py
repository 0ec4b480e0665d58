import math

import pytest
import torch

from crossmedia.losses import (batch_softmax_matching_loss, label_softmax_matching_loss, grad_reverse, grl_coefficient,
                               hardest_negative_hinge_loss, modality_adversarial_loss)
from crossmedia.models.discriminator import ModalityDiscriminator


def test_gradient_reversal_flips_and_scales_the_gradient():
    x = torch.randn(5, 3, requires_grad=True)
    (grad_reverse(x, 0.7) * torch.arange(3.0)).sum().backward()
    assert torch.allclose(x.grad, -0.7 * torch.arange(3.0).expand(5, 3))
    y = torch.randn(4, requires_grad=True)
    out = grad_reverse(y, 1.0)
    assert torch.equal(out, y)  # identity forward


def test_grl_coefficient_schedule():
    assert grl_coefficient(0.0) == 0.0
    assert abs(grl_coefficient(1.0) - (2 / (1 + math.exp(-10)) - 1)) < 1e-12
    xs = [grl_coefficient(p / 10) for p in range(11)]
    assert all(a < b for a, b in zip(xs, xs[1:]))


def test_discriminator_learns_while_the_reversed_gradient_pushes_the_encoder_the_other_way():
    torch.manual_seed(0)
    img = torch.randn(32, 8) + 2.0
    txt = torch.randn(32, 8) - 2.0
    img.requires_grad_(True)
    d = ModalityDiscriminator(8)
    loss, acc = modality_adversarial_loss(d, img, txt, 1.0)
    loss.backward()
    # the discriminator's own gradient descends the modality cross-entropy ...
    g_d = [p.grad.clone() for p in d.parameters()]
    with torch.no_grad():
        for p, g in zip(d.parameters(), g_d):
            p -= 0.1 * g
    assert modality_adversarial_loss(d, img, txt, 1.0)[0] < loss
    # ... while the features receive the ascent direction (reversed)
    img2 = img.detach().clone().requires_grad_(True)
    plain = torch.nn.functional.cross_entropy(d(torch.cat([img2, txt])), torch.cat([torch.zeros(32), torch.ones(32)]).long())
    plain.backward()
    img3 = img.detach().clone().requires_grad_(True)
    modality_adversarial_loss(d, img3, txt, 1.0)[0].backward()
    assert torch.allclose(img3.grad, -img2.grad, atol=1e-6)
    assert 0.0 <= float(acc) <= 1.0


def test_matching_loss_is_low_for_a_diagonal_batch_and_masks_same_class_negatives():
    s = torch.full((4, 4), -1.0) + 2.0 * torch.eye(4)
    i2t, t2i = batch_softmax_matching_loss(s, 10.0)
    assert i2t < 1e-6 and t2i < 1e-6
    s_bad = torch.zeros(4, 4)
    i2t, t2i = batch_softmax_matching_loss(s_bad, 10.0)
    assert abs(float(i2t) - math.log(4)) < 1e-5 and abs(float(t2i) - math.log(4)) < 1e-5
    same = torch.ones(4, 4)  # everything shares a label: no negatives are left
    i2t, t2i = batch_softmax_matching_loss(s_bad, 10.0, same)
    assert float(i2t) < 1e-6 and float(t2i) < 1e-6


def test_label_matching_counts_every_same_label_item_as_a_match():
    torch.manual_seed(0)
    s = torch.randn(5, 5)
    none = torch.zeros(5, 5)
    # no shared labels: the pair form exactly
    for a, b in zip(label_softmax_matching_loss(s, 10.0, none), batch_softmax_matching_loss(s, 10.0)):
        assert torch.allclose(a, b, atol=1e-6)
    # by hand: query 0 matches texts 0 and 2 (shares a label with item 2)
    same = torch.zeros(5, 5)
    same[0, 2] = same[2, 0] = 1.0
    i2t, t2i = label_softmax_matching_loss(s, 10.0, same)
    logp = torch.log_softmax(10.0 * s, dim=1)
    want = [-(logp[0, 0] + logp[0, 2]) / 2, -(logp[1, 1]), -(logp[2, 2] + logp[2, 0]) / 2, -logp[3, 3], -logp[4, 4]]
    assert torch.allclose(i2t, torch.stack(want).mean(), atol=1e-5)
    logp_t = torch.log_softmax(10.0 * s.T, dim=1)
    want_t = [-(logp_t[0, 0] + logp_t[0, 2]) / 2, -logp_t[1, 1], -(logp_t[2, 2] + logp_t[2, 0]) / 2, -logp_t[3, 3],
              -logp_t[4, 4]]
    assert torch.allclose(t2i, torch.stack(want_t).mean(), atol=1e-5)
    # its gradient raises the same-label cross pair's score, which the pair form masks or pushes down
    s2 = torch.zeros(5, 5, requires_grad=True)
    sum(label_softmax_matching_loss(s2, 10.0, same)).backward()
    assert s2.grad[0, 2] < 0 and s2.grad[2, 0] < 0
    with pytest.raises(ValueError, match="same_class"):
        label_softmax_matching_loss(s, 10.0, torch.zeros(4, 4))


def test_hinge_uses_the_hardest_negative():
    s = torch.tensor([[0.9, 0.1, 0.8], [0.0, 0.9, 0.0], [0.0, 0.0, 0.9]])
    loss = hardest_negative_hinge_loss(s, 0.2)
    # only pair 0 vs text 2 (0.2 - 0.9 + 0.8 = 0.1) and image 0 vs text 2 seen from text 2's side (0.2 - 0.9 + 0.8)
    assert abs(float(loss) - (0.1 + 0.1) / 3) < 1e-6
    same = torch.tensor([[1, 0, 1], [0, 1, 0], [1, 0, 1]]).float()
    assert float(hardest_negative_hinge_loss(s, 0.2, same)) == 0.0
