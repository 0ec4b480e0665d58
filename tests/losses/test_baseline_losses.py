import torch

from crossmedia.losses import (cross_modal_triplet_loss, grad_reverse, grl_coefficient, label_classification_loss,
                               label_regression_loss, modality_adversarial_loss, modality_invariance_loss)


def test_grad_reverse_flips_and_scales_the_gradient():
    x = torch.ones(3, requires_grad=True)
    grad_reverse(x, 0.5).sum().backward()
    assert torch.allclose(x.grad, torch.full((3,), -0.5))
    assert grl_coefficient(0.0) == 0.0 and 0.99 < grl_coefficient(1.0) < 1.0


def test_triplet_loss_zero_when_positives_much_closer():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    s = torch.eye(2)
    assert cross_modal_triplet_loss(a, a.clone(), s, margin=0.2).item() == 0.0
    assert cross_modal_triplet_loss(a, a.flip(0), s, margin=0.2).item() > 1.0  # positives are the far ones


def test_label_losses():
    y = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    good = label_classification_loss(torch.tensor([[9.0, -9.0], [-9.0, 9.0]]), y)
    bad = label_classification_loss(torch.tensor([[-9.0, 9.0], [9.0, -9.0]]), y)
    assert good < 1e-3 < bad
    assert label_regression_loss(y, y).item() == 0.0
    assert modality_invariance_loss(y, y).item() == 0.0 and modality_invariance_loss(y, -y).item() == 4.0


def test_adversarial_loss_trains_discriminator_but_reverses_into_encoder():
    disc = torch.nn.Linear(2, 2)
    u = torch.randn(4, 2, requires_grad=True)
    v = torch.randn(4, 2)
    modality_adversarial_loss(disc, u, v, 1.0)[0].backward()
    g_rev = u.grad.clone()
    u.grad = None
    torch.nn.functional.cross_entropy(disc(torch.cat([u, v])), torch.tensor([0] * 4 + [1] * 4)).backward()
    assert torch.allclose(g_rev, -u.grad)
