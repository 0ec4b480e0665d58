import numpy as np
import pytest

from crossmedia.bench.classical import CCA, SCM, centered_cosine, class_posteriors, multinomial_logistic


def _paired(n=600, seed=0):
    """Two views sharing a 2-d latent signal, each padded with independent noise dimensions."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 2))
    a = np.hstack([z @ rng.normal(size=(2, 3)), rng.normal(size=(n, 3))]) + 5.0
    b = np.hstack([z @ rng.normal(size=(2, 2)), rng.normal(size=(n, 4))]) - 2.0
    return z, a + 0.05 * rng.normal(size=a.shape), b + 0.05 * rng.normal(size=b.shape)


def test_cca_finds_the_shared_signal_and_its_variates_are_uncorrelated_with_unit_variance():
    z, a, b = _paired()
    cca = CCA(dim=3, reg=0.0).fit(a, b)
    c = cca.correlations_
    assert c[0] > 0.99 and c[1] > 0.99  # the two shared directions
    assert c[2] < 0.2  # nothing else is shared
    pa, pb = cca.project_a(a), cca.project_b(b)
    np.testing.assert_allclose(pa.mean(0), 0, atol=1e-9)
    np.testing.assert_allclose(pa.T @ pa / len(pa), np.eye(3), atol=1e-6)  # whitened
    np.testing.assert_allclose(np.diag(pa.T @ pb / len(pa)), c, atol=1e-6)
    # the variates span the latent signal: regressing z on the first two recovers it
    coef, *_ = np.linalg.lstsq(pa[:, :2], z - z.mean(0), rcond=None)
    resid = (z - z.mean(0)) - pa[:, :2] @ coef
    assert np.abs(resid).max() < 0.2


def test_cca_refuses_bad_shapes():
    _, a, b = _paired(50)
    with pytest.raises(ValueError, match="paired rows"):
        CCA(2).fit(a, b[:-1])
    with pytest.raises(ValueError, match="dim"):
        CCA(7).fit(a, b)
    with pytest.raises(ValueError, match="NaN"):
        CCA(2).fit(np.full_like(a, np.nan), b)


def test_multinomial_logistic_separates_classes_and_its_gradient_is_exact():
    rng = np.random.default_rng(1)
    centres = np.array([[3, 0], [0, 3], [-3, -3]], dtype=float)
    y = rng.integers(0, 3, 300)
    z = centres[y] + rng.normal(size=(300, 2))
    w = multinomial_logistic(z, y, 3, l2=1e-3)
    p = class_posteriors(w, z)
    np.testing.assert_allclose(p.sum(1), 1.0)
    assert (p.argmax(1) == y).mean() > 0.95
    # at the optimum the penalised gradient vanishes (checks the analytic gradient's sign/scale)
    onehot = np.eye(3)[y]
    za = np.hstack([z, np.ones((300, 1))])
    g = za.T @ (p - onehot) / 300
    g[:-1] += 1e-3 * w[:-1]
    assert np.abs(g).max() < 1e-4


def test_scm_puts_both_views_in_one_label_space():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 4, 800)
    means = rng.normal(scale=3, size=(4, 3))
    a = np.hstack([means[y] + rng.normal(size=(800, 3)), rng.normal(size=(800, 5))])
    b = np.hstack([means[y] @ rng.normal(size=(3, 3)) + rng.normal(size=(800, 3)), rng.normal(size=(800, 2))])
    scm = SCM(dim=3, reg=1e-3, l2=1e-3).fit(a[:600], b[:600], y[:600], n_classes=4)
    pi, pt = scm.image(a[600:]), scm.text(b[600:])
    assert pi.shape == pt.shape == (200, 4)
    # an image's nearest text (centred cosine) shares its class far above chance (0.25)
    nearest = (centered_cosine(pi) @ centered_cosine(pt).T).argmax(1)
    assert (y[600:][nearest] == y[600:]).mean() > 0.7


def test_centered_cosine_is_pearson_correlation():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 7))
    c = centered_cosine(x) @ centered_cosine(x).T
    np.testing.assert_allclose(c, np.corrcoef(x), atol=1e-12)
