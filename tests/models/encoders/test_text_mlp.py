"""The bag-of-words MLP: at inference a sparse bag of words reads only its words' weight
columns, with the dense product's values; dense inputs and training take the dense path."""

import pytest
import torch

from crossmedia.models.encoders import text_mlp
from crossmedia.models.encoders.text_mlp import BowMLP, is_sparse, sparse_linear


def _bow(b=5, v=400, words=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(b, v)
    for i in range(b - 1):  # the last text is empty
        x[i, torch.randperm(v, generator=g)[:words]] = torch.rand(words, generator=g) + 0.5
    return x


def test_sparse_linear_equals_the_dense_product():
    torch.manual_seed(0)
    lin = torch.nn.Linear(400, 32)
    x = _bow()
    assert torch.allclose(sparse_linear(x, lin), lin(x), atol=1e-6)
    assert torch.allclose(sparse_linear(x, lin)[-1], lin.bias)  # an empty text gets the bias
    nob = torch.nn.Linear(400, 8, bias=False)
    assert torch.allclose(sparse_linear(x, nob), nob(x), atol=1e-6)


def test_bow_mlp_takes_the_sparse_path_only_for_sparse_input_without_grad(monkeypatch):
    torch.manual_seed(0)
    m = BowMLP(400, 16, hidden=32).eval()
    x, dense = _bow(), torch.rand(5, 400)
    assert is_sparse(x) and not is_sparse(dense) and not is_sparse(torch.zeros(0, 400))
    calls = []
    orig = text_mlp.sparse_linear
    monkeypatch.setattr(text_mlp, "sparse_linear", lambda *a: calls.append(1) or orig(*a))
    ref = m.net(x)
    with torch.no_grad():
        got = m(x)
        m(dense)
    assert len(calls) == 1 and torch.allclose(got, ref, atol=1e-6)
    m(x)  # under autograd (training): the dense product
    assert len(calls) == 1


def test_sparse_linear_follows_every_change_of_the_weight():
    # the transposed copy it reads must never go stale: an optimizer step, load_state_dict and a
    # replaced parameter each change what it returns, exactly as the dense product
    g = torch.Generator().manual_seed(1)
    lin = torch.nn.Linear(400, 32)
    x = _bow()
    with torch.no_grad():
        sparse_linear(x, lin)  # the copy is made
    lin(x).square().sum().backward()
    torch.optim.SGD(lin.parameters(), lr=1.0).step()
    with torch.no_grad():
        assert torch.allclose(sparse_linear(x, lin), lin(x), atol=1e-5)
        other = torch.nn.Linear(400, 32)
        other.weight.copy_(torch.randn(32, 400, generator=g))
        lin.load_state_dict(other.state_dict())
        assert torch.allclose(sparse_linear(x, lin), other(x), atol=1e-5)
        lin.weight = torch.nn.Parameter(torch.randn(32, 400, generator=g))
        assert torch.allclose(sparse_linear(x, lin), lin(x), atol=1e-5)


def test_sparse_linear_reads_columns_in_place_above_the_copy_bound(monkeypatch):
    lin = torch.nn.Linear(400, 32)
    x = _bow()
    monkeypatch.setattr(text_mlp, "TRANSPOSED_COPY_MAX_BYTES", 400 * 32 * 4 - 1)
    with torch.no_grad():
        assert text_mlp._weight_rows(lin) is None
        assert torch.allclose(sparse_linear(x, lin), lin(x), atol=1e-6)
    monkeypatch.setattr(text_mlp, "TRANSPOSED_COPY_MAX_BYTES", 400 * 32 * 4)
    assert text_mlp._weight_rows(lin).shape == (400, 32)
