"""Closed-form reference methods of the cross-modal retrieval literature, numpy in, numpy out.

They exist so that a benchmark can check that its protocol reproduces a published row before
it puts a learned model next to that row (``benchmarks/wikipedia_published.py``):

- :class:`CCA` — canonical correlation analysis (Hotelling 1936), ridge-regularised, as the
  "correlation matching" baseline of Rasiwasia et al. (ACM MM 2010): both views are centred on
  the training means and projected on the top ``dim`` canonical directions.
- :class:`SCM` — semantic correlation matching (same paper): CCA, then one multinomial logistic
  regression per view on the projected training items; an item is represented by its vector of
  class posteriors, so both views meet in the label simplex.
- :func:`centered_cosine` — the "normalised correlation" distance of that paper: each vector
  centred on its own mean and l2-normalised, so that an inner product is Pearson's correlation.

Everything is deterministic (no random initialisation: the regression starts at zero and runs
L-BFGS to convergence).
"""

from __future__ import annotations

import numpy as np

__all__ = ["CCA", "SCM", "centered_cosine", "l2_normalize", "multinomial_logistic", "class_posteriors"]


def _matrix(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name}: expected a non-empty 2-D array, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return a


def _inv_sqrt(c: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(c)
    return (v / np.sqrt(w)) @ v.T


def l2_normalize(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


def centered_cosine(z: np.ndarray) -> np.ndarray:
    """Rows centred on their own mean and l2-normalised: ``a @ b.T`` is then the Pearson
    correlation of two rows (Rasiwasia et al.'s normalised correlation)."""
    z = np.asarray(z, dtype=np.float64)
    return l2_normalize(z - z.mean(axis=1, keepdims=True))


class CCA:
    """Ridge-regularised CCA of two views: ``fit(A, B)`` on paired rows, then ``project_a`` /
    ``project_b`` map each view to the ``dim`` canonical variates. ``reg`` is added to each
    view's covariance (after centring, per-sample normalised) before whitening."""

    def __init__(self, dim: int, reg: float = 1e-3):
        if dim < 1:
            raise ValueError(f"dim: expected >= 1, got {dim}")
        if reg < 0:
            raise ValueError(f"reg: expected >= 0, got {reg}")
        self.dim, self.reg = int(dim), float(reg)

    def fit(self, a, b) -> "CCA":
        a, b = _matrix(a, "a"), _matrix(b, "b")
        if len(a) != len(b):
            raise ValueError(f"a and b: expected paired rows, got {len(a)} and {len(b)}")
        if self.dim > min(a.shape[1], b.shape[1]):
            raise ValueError(f"dim: expected <= min of the two views' widths "
                             f"({a.shape[1]}, {b.shape[1]}), got {self.dim}")
        n = len(a)
        self.mean_a_, self.mean_b_ = a.mean(0), b.mean(0)
        a, b = a - self.mean_a_, b - self.mean_b_
        ka = _inv_sqrt(a.T @ a / n + self.reg * np.eye(a.shape[1]))
        kb = _inv_sqrt(b.T @ b / n + self.reg * np.eye(b.shape[1]))
        u, s, vt = np.linalg.svd(ka @ (a.T @ b / n) @ kb)
        self.w_a_ = ka @ u[:, : self.dim]
        self.w_b_ = kb @ vt.T[:, : self.dim]
        self.correlations_ = s[: self.dim]
        return self

    def project_a(self, a) -> np.ndarray:
        return (_matrix(a, "a") - self.mean_a_) @ self.w_a_

    def project_b(self, b) -> np.ndarray:
        return (_matrix(b, "b") - self.mean_b_) @ self.w_b_


def multinomial_logistic(z, y, n_classes: int, l2: float = 1e-3, max_iter: int = 1000) -> np.ndarray:
    """Weights ``(d + 1, n_classes)`` (last row: biases) of a softmax regression minimising the
    mean cross-entropy + ``l2/2 * ||W||²`` (biases not penalised), by L-BFGS from zero."""
    from scipy.optimize import minimize

    z = _matrix(z, "z")
    y = np.asarray(y)
    if y.shape != (len(z),) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"y: expected {len(z)} integer class ids in [0, {n_classes})")
    n, d = z.shape
    za = np.hstack([z, np.ones((n, 1))])
    onehot = np.eye(n_classes)[y]

    def objective(w):
        w = w.reshape(d + 1, n_classes)
        s = za @ w
        s -= s.max(1, keepdims=True)
        logp = s - np.log(np.exp(s).sum(1, keepdims=True))
        loss = -np.mean(logp[np.arange(n), y]) + 0.5 * l2 * np.sum(w[:-1] ** 2)
        g = za.T @ (np.exp(logp) - onehot) / n
        g[:-1] += l2 * w[:-1]
        return loss, g.ravel()

    res = minimize(objective, np.zeros((d + 1) * n_classes), jac=True, method="L-BFGS-B",
                   options={"maxiter": max_iter})
    return res.x.reshape(d + 1, n_classes)


def class_posteriors(w: np.ndarray, z) -> np.ndarray:
    z = _matrix(z, "z")
    s = np.hstack([z, np.ones((len(z), 1))]) @ w
    s -= s.max(1, keepdims=True)
    p = np.exp(s)
    return p / p.sum(1, keepdims=True)


class SCM:
    """Semantic correlation matching: :class:`CCA` to ``dim`` dimensions, then a multinomial
    logistic regression per view (``l2``) on the projected training rows. ``image(a)`` /
    ``text(b)`` give class-posterior vectors, comparable across the views."""

    def __init__(self, dim: int, reg: float = 1e-3, l2: float = 1e-3):
        self.cca = CCA(dim, reg)
        self.l2 = float(l2)

    def fit(self, a, b, y, n_classes: int | None = None) -> "SCM":
        y = np.asarray(y)
        k = int(n_classes if n_classes is not None else y.max() + 1)
        self.cca.fit(a, b)
        self.w_a_ = multinomial_logistic(self.cca.project_a(a), y, k, self.l2)
        self.w_b_ = multinomial_logistic(self.cca.project_b(b), y, k, self.l2)
        return self

    def image(self, a) -> np.ndarray:
        return class_posteriors(self.w_a_, self.cca.project_a(a))

    def text(self, b) -> np.ndarray:
        return class_posteriors(self.w_b_, self.cca.project_b(b))
