"""Composite quantization: M codebooks of K codewords in R^D; an item is coded by one codeword
per codebook and reconstructed as their *sum* (x ≈ Σ_m C_m[b_m]).

This is the quantizer of CDQ (Cao et al. AAAI 2017) and CMSL (shared by both modalities), a
close relative of additive quantization (Babenko & Lempitsky CVPR 2014). The recipe, from CDQ:

* **initialisation**: k-means per codebook on the residuals (codebook 1 on x, codebook 2 on
  x − C_1[b_1], …) — residual vector quantization;
* **codes**: iterated conditional modes (ICM): for each codebook in a random order, choose the
  codeword minimising ‖x − Σ_{m'≠m} C_{m'}[b_{m'}] − C_m[k]‖² with the others fixed. Each step is
  an exact minimisation over one codebook, so ICM never increases the quantization error.
  Vectorised: per codebook the residuals' distances to all K codewords are one matrix product,
  computed in chunks of items to bound memory;
* **codebooks**: closed form least squares C = (HᵀH + ρI)⁻¹HᵀX, H the N × MK one-hot code
  matrix, ρ = 1e-3 a ridge for unused codewords.

**Constant inner-product constraint** (composite quantization, Zhang et al. ICML 2014; optional,
``constant_weight`` = μ > 0): the cross terms ξ(b) = Σ_{m≠m'} ⟨C_m[b_m], C_{m'}[b_{m'}]⟩ of every
item are pushed towards one shared value ε by the penalty μ·Σ_i (ξ(b_i) − ε)², so that
‖q − x̂‖² = Σ_m ‖q − C_m[b_m]‖² − (M − 1)‖q‖² + ε and Euclidean distances can be read from
per-codebook tables without a stored norm. With it, ICM minimises ‖x − x̂‖² + μ(ξ − ε)² per
codebook (still an exact minimisation over one codebook, so the penalised objective never
increases), ε is the mean of the cross terms (its closed form), and the codebooks start from
the closed-form least squares and are refined by L-BFGS on the penalised objective
(:meth:`refine_codebooks`). Inner-product ranking (AQD, what CDQ/CMSL use) is exact without it.

The API is FAISS-like and standalone (numpy in → numpy out; torch tensors in → torch tensors
out, on their device): :meth:`train`, :meth:`encode`, :meth:`decode`, :meth:`update_codebooks`,
:meth:`quantization_error`; the codebooks are ``codebooks`` (M, K, D) float32. Scoring against
the codes (AQD lookup tables, SQD) belongs to :class:`crossmedia.codecs.CompositeCodec`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["CompositeQuantizer", "kmeans", "bits_to_codebooks"]


def bits_to_codebooks(bits: int, K: int = 256) -> int:
    """Number of codebooks M for a code length of ``bits`` with K codewords each (M·log2 K bits)."""
    per = math.log2(K)
    if K < 2 or per != int(per):
        raise ValueError(f"K: expected a power of two ≥ 2, got {K}")
    if bits <= 0 or bits % int(per):
        raise ValueError(f"bits: expected a positive multiple of log2(K) = {int(per)}, got {bits}")
    return bits // int(per)


def _as_torch(x) -> tuple[torch.Tensor, bool]:
    if isinstance(x, torch.Tensor):
        return x, False
    return torch.from_numpy(np.ascontiguousarray(x)), True


def kmeans(x: torch.Tensor, k: int, n_iter: int = 20, seed: int = 0, chunk: int = 8192) -> torch.Tensor:
    """Lloyd's k-means (k-means++ seeding), deterministic for ``seed``; returns (k, D) centroids.

    With fewer distinct points than ``k`` the surplus centroids repeat data points (they then
    simply stay unused by ICM)."""
    x = x.float()
    n = x.shape[0]
    if n == 0:
        raise ValueError("kmeans: no data")
    rng = np.random.default_rng(int(seed))
    # k-means++ seeding on a subsample (enough for K=256), in numpy: hundreds of tiny steps,
    # which torch's thread pool makes slow on a busy machine
    sub_idx = rng.permutation(n)[: 20 * k] if n > 20 * k else np.arange(n)
    sub = x[torch.from_numpy(sub_idx).to(x.device)].detach().cpu().numpy().astype(np.float64)
    chosen = [int(rng.integers(sub.shape[0]))]
    d2 = ((sub - sub[chosen[0]]) ** 2).sum(1)
    for _ in range(1, k):
        total = float(d2.sum())
        if total <= 0:  # fewer distinct points than k: repeat points
            idx = int(rng.integers(sub.shape[0]))
        else:
            idx = int(np.searchsorted(np.cumsum(d2), rng.random() * total, side="right"))
            idx = min(idx, sub.shape[0] - 1)
        chosen.append(idx)
        d2 = np.minimum(d2, ((sub - sub[idx]) ** 2).sum(1))
    c = torch.from_numpy(sub[chosen].astype(np.float32)).to(x.device)
    for _ in range(n_iter):
        assign = _nearest(x, c, chunk)
        sums = torch.zeros_like(c).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).to(x.dtype)
        nonempty = counts > 0
        new = c.clone()
        new[nonempty] = sums[nonempty] / counts[nonempty, None]
        if torch.equal(new, c):
            break
        c = new
    return c


def _nearest(x: torch.Tensor, c: torch.Tensor, chunk: int) -> torch.Tensor:
    cn = (c * c).sum(1)
    out = torch.empty(x.shape[0], dtype=torch.long, device=x.device)
    for s in range(0, x.shape[0], chunk):
        out[s : s + chunk] = (cn - 2.0 * x[s : s + chunk] @ c.T).argmin(1)
    return out


class CompositeQuantizer:
    """M codebooks × K codewords in R^dim (see the module docstring).

    ``CompositeQuantizer(M=4, K=256, dim=64)`` then ``train(x)``; ``encode(x)`` → (N, M) codes
    (uint8 for K ≤ 256, else int32, as numpy; int64 as torch); ``decode(codes)`` → (N, dim)."""

    def __init__(self, M: int, K: int = 256, dim: int = 64, icm_iters: int = 3, chunk: int = 4096,
                 ridge: float = 1e-3, constant_weight: float = 0.0, refine_iters: int = 10):
        if M < 1 or K < 2 or dim < 1:
            raise ValueError(f"CompositeQuantizer: need M ≥ 1, K ≥ 2, dim ≥ 1 (got M={M}, K={K}, dim={dim})")
        if not constant_weight >= 0.0 or not math.isfinite(constant_weight):
            raise ValueError(f"CompositeQuantizer: constant_weight must be a finite number ≥ 0, got {constant_weight}")
        self.M, self.K, self.dim = int(M), int(K), int(dim)
        self.icm_iters = int(icm_iters)
        self.chunk = int(chunk)
        self.ridge = float(ridge)
        self.constant_weight = float(constant_weight)  # μ of the constant inner-product penalty (0: off)
        self.refine_iters = int(refine_iters)  # L-BFGS iterations of refine_codebooks
        self.epsilon = 0.0  # ε, the shared value of the cross terms (meaningful with constant_weight > 0)
        self.codebooks_t = torch.zeros(self.M, self.K, self.dim)

    # ------------------------------------------------------------------ properties
    @property
    def codebooks(self) -> np.ndarray:
        """(M, K, dim) float32 numpy copy of the codebooks."""
        return self.codebooks_t.detach().cpu().numpy().astype(np.float32)

    @codebooks.setter
    def codebooks(self, value) -> None:
        c, _ = _as_torch(value)
        if tuple(c.shape) != (self.M, self.K, self.dim):
            raise ValueError(f"codebooks: expected shape {(self.M, self.K, self.dim)}, got {tuple(c.shape)}")
        self.codebooks_t = c.detach().float().clone()

    @property
    def bits(self) -> float:
        return self.M * math.log2(self.K)

    def _cb(self, device) -> torch.Tensor:
        if self.codebooks_t.device != torch.device(device):
            self.codebooks_t = self.codebooks_t.to(device)
        return self.codebooks_t

    def _out_codes(self, codes: torch.Tensor, numpy_out: bool):
        if not numpy_out:
            return codes
        return codes.cpu().numpy().astype(np.uint8 if self.K <= 256 else np.int32)

    # ------------------------------------------------------------------ training
    def train(self, x, n_iter: int = 10, seed: int = 0, kmeans_iter: int = 20) -> "CompositeQuantizer":
        """k-means init per codebook on residuals, then ``n_iter`` rounds of ICM codes +
        closed-form codebooks. Returns self."""
        xt, _ = _as_torch(x)
        xt = xt.float()
        self.init_kmeans(xt, seed=seed, n_iter=kmeans_iter)
        codes = None
        g = torch.Generator().manual_seed(int(seed) + 1)
        for _ in range(int(n_iter)):
            codes = self.encode(xt, init_codes=codes, generator=g)
            self.update_codebooks(xt, codes)
            if self.constant_weight > 0:
                self.update_epsilon(codes)
                self.refine_codebooks(xt, codes)
                self.update_epsilon(codes)
        return self

    def init_kmeans(self, x, seed: int = 0, n_iter: int = 20) -> np.ndarray | torch.Tensor:
        """Residual k-means initialisation of all codebooks; returns the greedy codes."""
        xt, numpy_out = _as_torch(x)
        xt = xt.float()
        residual = xt.clone()
        cbs, codes = [], []
        for m in range(self.M):
            c = kmeans(residual, self.K, n_iter=n_iter, seed=int(seed) * 7919 + m, chunk=self.chunk)
            a = _nearest(residual, c, self.chunk)
            residual -= c[a]
            cbs.append(c)
            codes.append(a)
        self.codebooks_t = torch.stack(cbs)
        return self._out_codes(torch.stack(codes, 1), numpy_out)

    def update_codebooks(self, x, codes, ridge: float | None = None):
        """Closed-form least-squares codebooks C = (HᵀH + ρI)⁻¹HᵀX for fixed codes (in place);
        returns the new codebooks (numpy or torch like ``x``)."""
        xt, numpy_out = _as_torch(x)
        hth, htx = self.normal_equations(xt, codes)
        self.solve_codebooks(hth, htx, ridge)
        return self.codebooks if numpy_out else self.codebooks_t

    def normal_equations(self, x, codes) -> tuple[torch.Tensor, torch.Tensor]:
        """(HᵀH, HᵀX) in float64 for items ``x`` with ``codes``: sums over the items, so the
        equations of several parts of a set (e.g. the processes of a data-parallel run) add up
        to those of the whole set."""
        xt, _ = _as_torch(x)
        ct, _ = _as_torch(codes)
        xt = xt.double()
        ct = ct.long().to(xt.device)
        n, M, K = xt.shape[0], self.M, self.K
        flat = (ct + torch.arange(M, device=ct.device) * K).reshape(-1)  # column of H per (item, m)
        rows = torch.arange(n, device=ct.device).repeat_interleave(M)
        # HᵀH via a dense (MK × MK) count matrix: entries (m·K+a, m'·K+b) = #items coded a in m and b in m'
        pair_idx = (flat.view(n, M, 1) * (M * K) + flat.view(n, 1, M)).reshape(-1)
        hth = torch.bincount(pair_idx, minlength=(M * K) ** 2).to(xt.dtype).view(M * K, M * K)
        htx = torch.zeros(M * K, xt.shape[1], dtype=xt.dtype, device=xt.device).index_add_(0, flat, xt[rows])
        return hth, htx

    def solve_codebooks(self, hth: torch.Tensor, htx: torch.Tensor, ridge: float | None = None) -> torch.Tensor:
        """Codebooks from :meth:`normal_equations` (``hth`` is modified): C = (HᵀH + ρI)⁻¹HᵀX."""
        rho = self.ridge if ridge is None else float(ridge)
        hth.diagonal().add_(rho)
        c = torch.linalg.solve(hth, htx)
        self.codebooks_t = c.float().view(self.M, self.K, -1)
        return self.codebooks_t

    # ------------------------------------------------------------------ coding
    def encode(self, x, icm_iters: int | None = None, init_codes=None, generator: torch.Generator | None = None,
               seed: int | None = None):
        """Codes (N, M) by ICM from ``init_codes`` (default: greedy residual assignment), in
        chunks of ``chunk`` items. The codebook order of each sweep is random (``generator`` or
        ``seed``; default seed 0, so encoding is deterministic)."""
        xt, numpy_out = _as_torch(x)
        xt = xt.float()
        cb = self._cb(xt.device)
        iters = self.icm_iters if icm_iters is None else int(icm_iters)
        if generator is None:
            generator = torch.Generator().manual_seed(0 if seed is None else int(seed))
        orders = [torch.randperm(self.M, generator=generator).tolist() for _ in range(iters)]
        init = None if init_codes is None else _as_torch(init_codes)[0].long().to(xt.device)
        out = torch.empty(xt.shape[0], self.M, dtype=torch.long, device=xt.device)
        norms = (cb * cb).sum(-1)  # (M, K)
        for s in range(0, xt.shape[0], self.chunk):
            xc = xt[s : s + self.chunk]
            if init is None:
                codes = self._greedy(xc, cb, norms)
            else:
                codes = init[s : s + self.chunk].clone()
            recon = self._decode_t(codes, cb)
            for order in orders:
                for m in order:
                    recon -= cb[m][codes[:, m]]
                    codes[:, m] = self._icm_choice(xc, recon, codes, cb, norms, m)
                    recon += cb[m][codes[:, m]]
            out[s : s + self.chunk] = codes
        return self._out_codes(out, numpy_out)

    def _icm_choice(self, x: torch.Tensor, others: torch.Tensor, codes: torch.Tensor, cb: torch.Tensor,
                    norms: torch.Tensor, m: int) -> torch.Tensor:
        """The codeword of codebook ``m`` minimising ‖x − others − C_m[k]‖² (+ μ(ξ − ε)² with the
        constant inner-product penalty), ``others`` = the sum of the other codebooks' codewords."""
        r = x - others
        obj = norms[m] - 2.0 * r @ cb[m].T  # (B, K)
        if self.constant_weight > 0:
            # ξ with codeword k in codebook m: 2⟨k, others⟩ + (‖others‖² − Σ_{m'≠m} ‖C_m'[b_m']‖²)
            own = norms.gather(1, codes.T).sum(0) - norms[m][codes[:, m]]  # (B,)
            rest = (others * others).sum(1) - own
            t = 2.0 * (others @ cb[m].T) + (rest - self.epsilon)[:, None]
            obj = obj + self.constant_weight * t * t
        return obj.argmin(1)

    # ------------------------------------------------------------------ constant inner product
    def cross_terms(self, codes) -> np.ndarray | torch.Tensor:
        """ξ(b) = Σ_{m≠m'} ⟨C_m[b_m], C_{m'}[b_{m'}]⟩ = ‖x̂‖² − Σ_m ‖C_m[b_m]‖² per item (N,)."""
        ct, numpy_out = _as_torch(codes)
        cb = self._cb(ct.device)
        xi = self._cross_t(ct.long(), cb)
        return xi.cpu().numpy() if numpy_out else xi

    def _cross_t(self, codes: torch.Tensor, cb: torch.Tensor) -> torch.Tensor:
        sel = cb[torch.arange(self.M, device=codes.device).view(1, -1), codes]  # (N, M, D)
        return (sel.sum(1) ** 2).sum(1) - (sel * sel).sum((1, 2))

    def update_epsilon(self, codes, reduce=None) -> float:
        """ε ← the mean cross term of the items (its closed form for fixed codes and codebooks).
        ``reduce`` sums a tensor over the processes of a data-parallel run (default: identity)."""
        ct, _ = _as_torch(codes)
        xi = self._cross_t(ct.long(), self._cb(ct.device)).double()
        tot = torch.stack([xi.sum(), torch.tensor(float(xi.numel()), dtype=torch.float64, device=xi.device)])
        if reduce is not None:
            tot = reduce(tot)
        self.epsilon = float(tot[0] / tot[1].clamp_min(1.0))
        return self.epsilon

    def penalised_objective(self, x, codes) -> float:
        """Σ_i ‖x_i − x̂_i‖² + μ·Σ_i (ξ_i − ε)², the objective the penalised quantizer minimises."""
        xt, _ = _as_torch(x)
        ct = _as_torch(codes)[0].long().to(xt.device)
        cb = self._cb(xt.device)
        r = xt.float() - self._decode_t(ct, cb)
        val = (r * r).sum()
        if self.constant_weight > 0:
            val = val + self.constant_weight * ((self._cross_t(ct, cb) - self.epsilon) ** 2).sum()
        return float(val)

    def refine_codebooks(self, x, codes, iters: int | None = None, reduce=None):
        """L-BFGS on the codebooks for fixed codes and ε, from the current codebooks, minimising
        Σ_i ‖x_i − x̂_i‖² + μ·Σ_i (ξ_i − ε)² (+ ρ‖C‖², the least squares' ridge). ``reduce`` sums
        the objective and its gradient over the processes of a data-parallel run, so every
        process takes the same steps. Returns the codebooks (numpy or torch like ``x``)."""
        xt, numpy_out = _as_torch(x)
        xt = xt.double()
        ct = _as_torch(codes)[0].long().to(xt.device)
        c = self._cb(xt.device).detach().double().contiguous().clone().requires_grad_(True)
        mu, eps, rho = self.constant_weight, self.epsilon, self.ridge
        idx = torch.arange(self.M, device=xt.device).view(1, -1)
        opt = torch.optim.LBFGS([c], lr=1.0, max_iter=int(self.refine_iters if iters is None else iters),
                                history_size=10, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            sel = c[idx, ct]  # (N, M, D)
            rec = sel.sum(1)
            r = xt - rec
            f = (r * r).sum()
            if mu > 0:
                xi = (rec * rec).sum(1) - (sel * sel).sum((1, 2))
                f = f + mu * ((xi - eps) ** 2).sum()
            f.backward()
            c.grad = c.grad.contiguous()  # the gather's backward may leave a strided gradient
            f = f.detach()
            if reduce is not None:
                f = reduce(f)
                c.grad.copy_(reduce(c.grad))
            f = f + rho * (c.detach() ** 2).sum()
            c.grad.add_(2.0 * rho * c.detach())
            return f

        opt.step(closure)
        self.codebooks_t = c.detach().float()
        return self.codebooks if numpy_out else self.codebooks_t

    def _greedy(self, x: torch.Tensor, cb: torch.Tensor, norms: torch.Tensor) -> torch.Tensor:
        r = x.clone()
        codes = torch.empty(x.shape[0], self.M, dtype=torch.long, device=x.device)
        for m in range(self.M):
            codes[:, m] = (norms[m] - 2.0 * r @ cb[m].T).argmin(1)
            r -= cb[m][codes[:, m]]
        return codes

    def icm_step(self, x, codes, m: int):
        """One ICM update of codebook ``m`` for all items (exposed for tests and analysis)."""
        xt, numpy_out = _as_torch(x)
        ct = _as_torch(codes)[0].long().to(xt.device).clone()
        cb = self._cb(xt.device)
        recon = self._decode_t(ct, cb) - cb[m][ct[:, m]]
        ct[:, m] = self._icm_choice(xt.float(), recon, ct, cb, (cb * cb).sum(-1), m)
        return self._out_codes(ct, numpy_out)

    @staticmethod
    def _decode_t(codes: torch.Tensor, cb: torch.Tensor) -> torch.Tensor:
        M = cb.shape[0]
        out = cb[0][codes[:, 0]].clone()
        for m in range(1, M):
            out += cb[m][codes[:, m]]
        return out

    def decode(self, codes):
        """Reconstructions Σ_m C_m[b_m], (N, dim)."""
        ct, numpy_out = _as_torch(codes)
        cb = self._cb(ct.device)
        out = self._decode_t(ct.long(), cb)
        return out.cpu().numpy() if numpy_out else out

    def quantization_error(self, x, codes) -> float:
        """Mean over items of ‖x − decode(codes)‖²."""
        xt, _ = _as_torch(x)
        ct, _ = _as_torch(codes)
        r = xt.float() - self.decode(ct.to(xt.device))
        return float((r * r).sum(1).mean()) if r.shape[0] else 0.0

    def __repr__(self) -> str:
        extra = f", constant_weight={self.constant_weight:g}" if self.constant_weight > 0 else ""
        return f"CompositeQuantizer(M={self.M}, K={self.K}, dim={self.dim}, bits={self.bits:g}{extra})"
