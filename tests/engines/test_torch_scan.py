"""Device engines (torch top-k that stays on the device, the fused Triton scan) against the numpy
engines: same top-k, same tie policy. Run on CPU tensors — the torch path is device-agnostic,
and Triton's interpreter (TRITON_INTERPRET=1) runs the kernel on the CPU; the CUDA test runs
where a GPU is present."""

import numpy as np
import pytest
import torch

from crossmedia.engines import AQDEngine, FloatEngine, HammingEngine, pack_bits, top_k
from crossmedia.engines.torch_scan import TorchAQDEngine, TorchFloatEngine, TorchHammingEngine
from crossmedia.engines.torch_topk import RunningTopK, decode_keys, resolve_devices, score_keys


def _codes_with_ties(rng, n, M):
    codes = rng.integers(0, 256, (n, M)).astype(np.uint8)
    codes[n // 3 : n // 3 + 40] = codes[7]  # 41 identical items: ties across chunk boundaries
    return codes


def test_keys_order_is_the_tie_policy():
    s = torch.tensor([[1.0, 3.0, -2.0, 3.0, -0.0, 0.0, float("-inf")]])
    rows = torch.arange(7)[None]
    keys = score_keys(s, rows)
    order = torch.argsort(keys, dim=1, descending=True)[0].tolist()
    assert order == top_k(s[0].numpy(), 7)[1].tolist() == [1, 3, 0, 4, 5, 2, 6]
    ds, dr = decode_keys(keys)
    assert torch.equal(dr, rows) and torch.equal(ds, s + 0.0)


@pytest.mark.parametrize("host_select", [False, True])  # False: the GPU's torch.topk + key reselection
def test_running_topk_exact_ties_across_chunks(host_select):
    rng = np.random.default_rng(1)
    s = rng.integers(0, 5, (3, 500)).astype(np.float32)  # heavy ties
    run = RunningTopK(17, host_select=host_select)
    for lo in range(0, 500, 64):
        run.push(torch.from_numpy(s[:, lo : lo + 64]), lo)
    vs, vr = run.result()
    for i in range(3):
        ref_s, ref_r = top_k(s[i], 17)
        assert vr[i].tolist() == ref_r.tolist()
        assert vs[i].tolist() == ref_s.tolist()


@pytest.mark.parametrize("M", [4, 8, 3])  # 32 / 64-bit codes (paired tables), odd M (plain tables)
def test_torch_aqd_equals_numpy_engine(M):
    rng = np.random.default_rng(M)
    cb = rng.standard_normal((M, 256, 16)).astype(np.float32)
    codes = _codes_with_ties(rng, 2000, M)
    q = rng.standard_normal((5, 16)).astype(np.float32)
    ref = AQDEngine(cb, codes)
    eng = TorchAQDEngine(cb, codes, device="cpu", kernel="torch", chunk=300)
    np.testing.assert_allclose(eng.scores(q), ref.scores(q), rtol=1e-5, atol=1e-4)
    own = eng.scores(q)  # tables from torch's einsum: the same as numpy's up to the last ulp
    for k in (12, 5000):  # k > N: padded like the numpy engine
        rs, rr = ref.search(q, k)
        s, r = eng.search(q, k)
        np.testing.assert_allclose(s, rs, rtol=1e-5, atol=1e-5)
        for i in range(len(q)):
            ours = top_k(own[i], k)
            assert r[i][: len(ours[1])].tolist() == ours[1].tolist()  # exact tie policy on its own scores
            tied = own[i][r[i][:20]] == own[i][7]
            assert np.array_equal(r[i][:20][tied], rr[i][:20][tied])  # the 41 identical items: same order
        assert (r[:, 2000:] == -1).all() and np.isneginf(s[:, 2000:]).all()


def test_aqd_engine_torch_backend_keeps_topk_on_device():
    rng = np.random.default_rng(3)
    cb = rng.standard_normal((4, 256, 8)).astype(np.float32)
    codes = _codes_with_ties(rng, 1500, 4)
    q = rng.standard_normal((4, 8)).astype(np.float32)
    a = AQDEngine(cb, codes, backend="numpy").search(q, 9)
    b = AQDEngine(cb, codes, backend="torch", chunk=256).search(q, 9)
    assert np.array_equal(a[1], b[1]) and np.array_equal(a[0], b[0])


@pytest.mark.parametrize("bits", [16, 64, 72])
def test_torch_hamming_equals_numpy_engine(bits):
    rng = np.random.default_rng(bits)
    x = rng.standard_normal((1500, bits)).astype(np.float32)
    q = rng.standard_normal((6, bits)).astype(np.float32)
    ref = HammingEngine(pack_bits(x), bits)
    eng = TorchHammingEngine(pack_bits(x), bits, device="cpu", chunk=400)
    np.testing.assert_array_equal(eng.scores(q), ref.scores(q))
    for (a, b) in zip(ref.search(q, 20), eng.search(q, 20)):  # integer distances: many ties
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("metric", ["ip", "cosine"])
def test_torch_float_equals_numpy_engine(metric):
    rng = np.random.default_rng(5)
    v = rng.standard_normal((1200, 24)).astype(np.float32)
    q = rng.standard_normal((4, 24)).astype(np.float32)
    ref = FloatEngine(v, metric)
    eng = TorchFloatEngine(v, metric, device="cpu", chunk=500)
    rs, rr = ref.search(q, 10)
    s, r = eng.search(q, 10)
    np.testing.assert_allclose(s, rs, rtol=1e-5, atol=1e-5)
    assert (r == rr).mean() > 0.95  # float matmul blocking may differ in the last ulp: up to ties
    half = TorchFloatEngine(v, metric, device="cpu", dtype="float16")
    assert half.bytes_per_item == 48 and half.search(q, 10)[1].shape == (4, 10)


def test_resolve_devices():
    assert resolve_devices("cpu") == ["cpu"]
    assert resolve_devices("cpu*3") == ["cpu", "cpu", "cpu"]
    for bad in ("gpu", "cuda:x", "cpu*0", "tpu:1"):
        with pytest.raises(ValueError, match="expected|CUDA"):
            resolve_devices(bad)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_devices("cuda:0")


def test_triton_kernel_needs_triton_or_cuda(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)  # without the interpreter, CPU has no Triton
    rng = np.random.default_rng(0)
    cb = rng.standard_normal((4, 256, 8)).astype(np.float32)
    codes = rng.integers(0, 256, (50, 4)).astype(np.uint8)
    with pytest.raises(ValueError, match="kernel='triton'"):
        TorchAQDEngine(cb, codes, device="cpu", kernel="triton")
    assert TorchAQDEngine(cb, codes, device="cpu", kernel="auto").kernel == "torch"


_INTERPRETED_CHECK = """
import sys
import numpy as np, torch
torch.set_num_threads(1)
from crossmedia.engines import AQDEngine
from crossmedia.engines.torch_scan import TorchAQDEngine
from crossmedia.engines.triton_aqd import aqd_topk

M = int(sys.argv[1])
rng = np.random.default_rng(10 + M)
cb = rng.standard_normal((M, 256, 8)).astype(np.float32)
codes = rng.integers(0, 256, (230, M)).astype(np.uint8)
codes[50:60] = codes[3]  # tied items
q = rng.standard_normal((5, 8)).astype(np.float32)
ref = AQDEngine(cb, codes)
eng = TorchAQDEngine(cb, codes, device="cpu", kernel="triton", block_q=4, block_n=32)
assert eng.kernel == "triton"
rs, rr = ref.search(q, 6)
s, r = eng.search(q, 6)
np.testing.assert_allclose(s, rs, rtol=1e-5, atol=1e-5)
exact = ref.scores(q)
for i in range(len(q)):  # equal up to ties (float32 summation order differs from pair tables)
    np.testing.assert_allclose(exact[i][r[i]], s[i], rtol=1e-5, atol=1e-5)
    assert set(np.flatnonzero(exact[i] > rs[i, -1] + 1e-4)) <= set(r[i].tolist())
    tied = np.flatnonzero(np.isin(r[i], np.arange(50, 60)))
    assert np.all(np.diff(r[i][tied]) > 0)  # ties: lower row first
lut = torch.einsum("qd,mkd->qmk", torch.from_numpy(q), torch.from_numpy(cb)).contiguous()
s2, r2 = aqd_topk(lut, torch.from_numpy(codes), 3, block_q=8, block_n=16, programs=5)
assert torch.equal(r2, torch.from_numpy(r[:, :3])), (r2, r[:, :3])
s3, r3 = eng.search(q, 300)  # k over the kernel's limit: gathers + device top-k, same order
own = eng.scores(q)
assert np.array_equal(r3[:, :6], r) and (r3[:, 230:] == -1).all()
for i in range(len(q)):
    assert r3[i, :230].tolist() == np.lexsort((np.arange(230), -own[i].astype(np.float64))).tolist()
print("ok")
"""


@pytest.mark.parametrize("M", [4, 8])
def test_triton_kernel_interpreted_on_cpu_equals_numpy(M):
    """The fused kernel under Triton's CPU interpreter (TRITON_INTERPRET=1, which must be set
    before Triton is imported: a fresh process; slow, so tiny sizes) — 32- and 64-bit codes,
    tied items, several item ranges and query blocks, a partial last tile."""
    pytest.importorskip("triton")
    import os
    import subprocess
    import sys

    env = {**os.environ, "TRITON_INTERPRET": "1", "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-c", _INTERPRETED_CHECK, str(M)], env=env, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0 and p.stdout.strip().endswith("ok"), p.stderr[-3000:]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_triton_kernel_on_cuda_equals_numpy():
    pytest.importorskip("triton")
    rng = np.random.default_rng(0)
    for M in (4, 8):
        cb = rng.standard_normal((M, 256, 32)).astype(np.float32)
        codes = rng.integers(0, 256, (200_003, M)).astype(np.uint8)
        q = rng.standard_normal((37, 32)).astype(np.float32)
        ref = AQDEngine(cb, codes)
        exact = ref.scores(q)
        rs, rr = ref.search(q, 100)
        for kernel in ("triton", "torch"):
            s, r = TorchAQDEngine(cb, codes, device="cuda", kernel=kernel).search(q, 100)
            np.testing.assert_allclose(s, rs, rtol=1e-5, atol=1e-4)
            for i in range(len(q)):
                np.testing.assert_allclose(exact[i][r[i]], s[i], rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("M", [4, 3])
def test_from_device_codes_equals_host_codes(M):
    rng = np.random.default_rng(7)
    cb = rng.standard_normal((M, 256, 8)).astype(np.float32)
    codes = rng.integers(0, 256, (900, M)).astype(np.uint8)
    q = rng.standard_normal((3, 8)).astype(np.float32)
    a = TorchAQDEngine(cb, codes, device="cpu", kernel="torch", chunk=256).search(q, 7)
    b = TorchAQDEngine.from_device_codes(cb, torch.from_numpy(codes), kernel="torch", chunk=256)
    assert b.ntotal == 900
    for x, y in zip(a, b.search(q, 7)):
        np.testing.assert_array_equal(x, y)
