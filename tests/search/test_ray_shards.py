"""Ray (the ``ray`` extra): index shards on actors of a local cluster return exactly the single
index's results; Ray Data encodes the same index arrays as the single-process build. Slow:
starting the cluster and its worker processes takes ~30-60 s on 2 cores."""

import numpy as np
import pytest

from crossmedia.search import Index
from crossmedia.engines import pack_bits

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.mark.parametrize("kind", ["composite", "float_ip"])  # (the router is codec-agnostic; sign: CPU shard tests)
def test_two_ray_shards_equal_single_engine(ray_cluster, kind):
    from crossmedia.codecs import CompositeCodec, FloatIPCodec, SignCodec
    from crossmedia.search.ray_shards import RayShardedEngine

    rng = np.random.default_rng(0)
    q = rng.standard_normal((5, 16)).astype(np.float32)
    if kind == "composite":
        codec = CompositeCodec.from_codebooks(rng.standard_normal((4, 256, 16)).astype(np.float32), normalize=False)
        db = rng.integers(0, 256, (3001, 4)).astype(np.uint8)
        db[1400:1600] = db[0]  # ties across the shard boundary
    elif kind == "sign":
        codec, db = SignCodec(16, 16), pack_bits(rng.standard_normal((3001, 16)))
    else:
        codec, db = FloatIPCodec(16), rng.standard_normal((3001, 16)).astype(np.float32)
    ref = codec.engine(db)
    eng = RayShardedEngine.create(codec, db, 2, cpus_per_shard=0.5)
    try:
        assert eng.ntotal == 3001 and eng.offsets == [0, 1500]
        for k in (1, 25):
            s, r = eng.search(q, k)
            rs, rr = ref.search(q, k)
            np.testing.assert_array_equal(r, rr)  # the codec's own engine per shard
            np.testing.assert_array_equal(s, rs)
        # AQD / Hamming sums are per item: identical; float matmul blocking: last-ulp differences
        np.testing.assert_allclose(eng.scores(q), ref.scores(q), rtol=1e-6, atol=1e-5 if kind == "float_ip" else 0)
        # batch invariance (crossmedia.engines.base): a query alone gets the bits it gets in a batch
        s, r = eng.search(q, 25)
        for i in range(len(q)):
            si, ri = eng.search(q[i : i + 1], 25)
            np.testing.assert_array_equal(ri[0], r[i])
            np.testing.assert_array_equal(si[0], s[i])
    finally:
        eng.close()


def test_ray_index_same_hits_as_single_index(ray_cluster, cmsl_index):
    from crossmedia.serve.ray_app import ray_index

    rix = ray_index(cmsl_index.path, 2, cpus_per_shard=0.25)
    try:
        for query in ("red circle", "green"):
            a, b = cmsl_index.search_text(query, k=10), rix.search_text(query, k=10)
            assert [(h.id, h.score) for h in a] == [(h.id, h.score) for h in b]
    finally:
        for mod in ("image", "text"):
            rix.engine(mod).close()


def test_build_with_ray_data_same_arrays(ray_cluster, cmsl_run, synth_data, cmsl_index, tmp_path):
    ix = Index.build(cmsl_run, synth_data, tmp_path / "ix", ray="auto", ray_workers=2, batch_size=16)
    assert ix.ids == cmsl_index.ids
    for key in ("image_db", "text_db", "tokens"):
        a, b = np.asarray(ix.arrays[key]), np.asarray(cmsl_index.arrays[key])
        assert a.shape == b.shape
        assert (a == b).all(axis=tuple(range(1, a.ndim))).mean() > 0.97  # float sums by batch: codes may flip rarely
    np.testing.assert_allclose(np.asarray(ix.arrays["regions"], np.float32),
                               np.asarray(cmsl_index.arrays["regions"], np.float32), rtol=1e-2, atol=1e-2)
