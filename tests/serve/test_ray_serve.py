"""``crossmedia serve --ray``: the FastAPI app deployed with Ray Serve on a local cluster, its
index on Ray shard actors, answers like the in-process index. Slow (cluster + Serve start)."""

import json
import urllib.request

import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ray_serve_deployment_same_hits(ray_cluster, serve_index):
    from ray import serve

    from crossmedia.search import Index
    from crossmedia.serve.ray_app import deployment

    port = _free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        serve.run(deployment(serve_index, shards=2, batching={"max_wait_ms": 2.0, "max_batch": 16}, cpus_per_shard=0.25),
                  name="crossmedia", route_prefix="/")
        url = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(url + "/healthz", timeout=30) as r:
            health = json.loads(r.read())
        assert health["items"] == 120 and health["batches"] is not None
        ix = Index.load(serve_index)
        for query in ("red circle", "blue"):
            req = urllib.request.Request(url + "/api/search/text", data=json.dumps({"query": query, "k": 6}).encode(),
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=60) as r:
                body = json.loads(r.read())
            want = ix.search_text(query, k=6)
            assert [h["id"] for h in body["hits"]] == [h.id for h in want]
            np.testing.assert_allclose([h["score"] for h in body["hits"]], [h.score for h in want], rtol=1e-6)
        with pytest.raises(urllib.error.HTTPError) as e:  # the app's own errors, through Serve
            urllib.request.urlopen(urllib.request.Request(url + "/api/search/text", data=b'{"query": ""}',
                                                          headers={"Content-Type": "application/json"}), timeout=30)
        assert e.value.code == 422
    finally:
        serve.delete("crossmedia")
        serve.shutdown()
