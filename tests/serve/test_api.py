"""The search API through FastAPI's TestClient: every endpoint, its answers against the index
itself, and every error path (a structured JSON error with the right 4xx code, never a
traceback)."""

import io
import threading
import time

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
pytest.importorskip("multipart")
from fastapi.testclient import TestClient  # noqa: E402

from crossmedia.search import Index  # noqa: E402
from crossmedia.serve import Limits, create_app  # noqa: E402


@pytest.fixture(scope="module")
def ix(serve_index):
    return Index.load(serve_index)


@pytest.fixture(scope="module")
def client(ix):
    with TestClient(create_app(ix)) as c:
        yield c


def _png(size=(24, 24), colour=(200, 30, 30), fmt="PNG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format=fmt)
    return buf.getvalue()


def _assert_error(r, status, code, needle=None):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert err["code"] == code and err["status"] == status
    if needle:
        assert needle in err["message"], err["message"]
    return err


# ---------------------------------------------------------------------------- endpoints
def test_healthz_and_openapi(client, ix):
    h = client.get("/healthz").json()
    assert h["status"] == "ok" and h["items"] == len(ix) == 120
    assert h["model"] == "cmsl" and h["code_kind"] == "quantized" and h["rerank"] and h["explain"]
    assert h["limits"]["max_k"] == Limits().max_k
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/search/text", "/api/search/image", "/api/items/{item_id}", "/api/items/{item_id}/thumbnail",
            "/api/explain", "/healthz"} <= set(paths)


@pytest.mark.parametrize("rerank", [0, 30])
def test_text_search_matches_the_index(client, ix, rerank):
    r = client.post("/api/search/text", json={"query": "red circle", "k": 7, "rerank": rerank})
    assert r.status_code == 200, r.text
    body = r.json()
    want = ix.search_text("red circle", k=7, rerank=rerank)
    assert [h["id"] for h in body["hits"]] == [h.id for h in want]
    np.testing.assert_allclose([h["score"] for h in body["hits"]], [h.score for h in want], rtol=1e-6)
    assert [h["rank"] for h in body["hits"]] == list(range(1, 8))
    assert body["modality"] == "image" and body["k"] == 7 and body["rerank"] == rerank
    assert body["score_kind"] == ix.score_kind(rerank) and ("fine-grained" in body["score_kind"]) == bool(rerank)
    h0 = body["hits"][0]
    it = ix.item(h0["id"])
    assert h0["text"] == it["text"] and h0["labels"] == it["labels"]
    # the text shown is the one the index matched, named; the caption comes as context
    assert h0["text_field"] == it["text_field"] and h0["caption"] == it.get("caption")
    assert h0["thumbnail"] == f"/api/items/{h0['id']}/thumbnail"
    assert "/" not in h0["thumbnail"].split("/api/items/")[1].split("/thumbnail")[0]  # ids only, no file paths


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_image_search_matches_the_index(client, ix, fmt):
    path = ix.item(ix.ids[5])["image"]
    with Image.open(path) as im:
        buf = io.BytesIO()
        im.convert("RGB").save(buf, format=fmt, quality=95)
    data = buf.getvalue()
    r = client.post("/api/search/image", files={"file": (f"q.{fmt.lower()}", data, "application/octet-stream")},
                    data={"k": "5"})
    assert r.status_code == 200, r.text
    body = r.json()
    want = ix.search_image(Image.open(io.BytesIO(data)), k=5)
    assert [h["id"] for h in body["hits"]] == [h.id for h in want]
    assert body["modality"] == "text" and all(h["modality"] == "text" and h["text"] for h in body["hits"])


def test_item_and_thumbnail(client, ix):
    item_id = ix.ids[3]
    r = client.get(f"/api/items/{item_id}")
    assert r.status_code == 200
    it = r.json()
    assert it["id"] == item_id and it["text"] == ix.item(item_id)["text"] and it["labels"]
    assert "image" not in it  # the server's file path is never shown
    t = client.get(it["thumbnail"])
    assert t.status_code == 200 and t.headers["content-type"] == "image/png"
    thumb = Image.open(io.BytesIO(t.content))
    assert thumb.format == "PNG" and max(thumb.size) <= 256
    with Image.open(ix.item(item_id)["image"]) as im:  # same pixels (the test images are small)
        np.testing.assert_array_equal(np.asarray(thumb.convert("RGB")), np.asarray(im.convert("RGB")))
    assert client.get(it["thumbnail"]).content == t.content  # cached copy


def test_explain_png_and_json(client, ix):
    item_id = client.post("/api/search/text", json={"query": "red circle", "k": 1}).json()["hits"][0]["id"]
    j = client.get("/api/explain", params={"query": "red circle", "item": item_id, "format": "json"})
    assert j.status_code == 200, j.text
    body = j.json()
    words, attn, g = ix.explain("red circle", item_id)
    assert body["words"] == words == ["red", "circle"] and body["grid"] == g
    np.testing.assert_allclose(body["attention"], attn, atol=1e-6)
    p = client.get("/api/explain", params={"query": "red circle", "item": item_id})
    assert p.status_code == 200 and p.headers["content-type"] == "image/png"
    im = Image.open(io.BytesIO(p.content))
    assert im.format == "PNG" and im.width > 2.5 * im.height  # the image + one panel per word


def test_page_and_security_headers(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert 'id="q"' in r.text and 'id="drop"' in r.text and "/static/app.js" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/style.css").status_code == 200


# ---------------------------------------------------------------------------- error paths
@pytest.mark.parametrize("body, status, code, needle", [
    ({"query": "x" * 501}, 422, "invalid_request", "limit is 500"),
    ({"query": "   "}, 422, "invalid_request", "empty"),
    ({"query": ""}, 422, "invalid_request", "query"),
    ({"query": "zzzz qqqq"}, 400, "bad_request", "vocabulary"),
    ({"query": "red", "k": 101}, 422, "invalid_request", "k: 101"),
    ({"query": "red", "k": 0}, 422, "invalid_request", "k"),
    ({"query": "red", "k": "many"}, 422, "invalid_request", "k"),
    ({"query": "red", "rerank": 5000}, 422, "invalid_request", "rerank"),
    ({"query": "red", "rerank": -1}, 422, "invalid_request", "rerank"),
    ({"k": 3}, 422, "invalid_request", "query"),
])
def test_text_search_errors(client, body, status, code, needle):
    err = _assert_error(client.post("/api/search/text", json=body), status, code, needle)
    assert "Traceback" not in err["message"]


def test_malformed_json_body(client):
    r = client.post("/api/search/text", content=b"{not json", headers={"content-type": "application/json"})
    _assert_error(r, 422, "invalid_request")


@pytest.mark.parametrize("data, status, code, needle", [
    (b"", 400, "bad_image", "empty"),
    (b"GIF89a but not really an image at all", 415, "unsupported_image", "not a decodable image"),
    (b"plain text, not an image", 415, "unsupported_image", "not a decodable image"),
    (_png()[:60], 400, "bad_image", "corrupt or truncated"),
    (_png(fmt="TIFF"), 415, "unsupported_image", "PNG, JPEG"),
])
def test_image_search_rejects_bad_uploads(client, data, status, code, needle):
    r = client.post("/api/search/image", files={"file": ("x.png", data, "image/png")})
    _assert_error(r, status, code, needle)


def test_image_search_missing_file_and_bad_k(client):
    _assert_error(client.post("/api/search/image", data={"k": "3"}), 422, "invalid_request", "file")
    r = client.post("/api/search/image", files={"file": ("q.png", _png(), "image/png")}, data={"k": "500"})
    _assert_error(r, 422, "invalid_request", "k: 500")


def test_upload_size_and_dimension_limits(ix):
    lim = Limits(max_upload_bytes=20_000, max_image_side=64, max_image_pixels=64 * 64)
    with TestClient(create_app(ix, limits=lim)) as c:
        _assert_error(c.post("/api/search/image", files={"file": ("big.png", _png((100, 20)), "image/png")}),
                      413, "image_too_big", "100×20")
        noise = np.random.default_rng(0).integers(0, 256, (60, 60, 3), dtype=np.uint8)  # 10 kB, fits
        buf = io.BytesIO()
        Image.fromarray(noise).save(buf, format="BMP")
        assert len(buf.getvalue()) < 20_000
        assert c.post("/api/search/image", files={"file": ("ok.bmp", buf.getvalue(), "image/bmp")}).status_code == 200
        huge = b"\x00" * 200_000
        # declared length over the cap: refused before the body is read
        _assert_error(c.post("/api/search/image", files={"file": ("h.png", huge, "image/png")}), 413, "too_large")

        def chunks():  # no Content-Length: cut off while streaming
            for _ in range(20):
                yield b"\x00" * 10_000

        r = c.post("/api/search/image", content=chunks(),
                   headers={"content-type": "multipart/form-data; boundary=xyz"})
        _assert_error(r, 413, "too_large")


def test_item_errors(client, ix):
    _assert_error(client.get("/api/items/nope"), 404, "not_found", "nope")
    _assert_error(client.get("/api/items/nope/thumbnail"), 404, "not_found")
    _assert_error(client.get("/api/items/" + "a" * 300), 422, "invalid_request", "longer than")
    # ids only: a path in the URL never reaches the file system
    for url in ("/api/items/..%2F..%2Fetc%2Fpasswd/thumbnail", "/api/items/%2Fetc%2Fpasswd",
                "/api/items/../../etc/passwd"):
        assert client.get(url).status_code == 404
    _assert_error(client.get("/nothing/here"), 404, "not_found")
    _assert_error(client.delete("/api/items/" + ix.ids[0]), 405, "method_not_allowed")


def test_explain_errors(client, ix):
    _assert_error(client.get("/api/explain", params={"query": "red", "item": "nope"}), 404, "not_found")
    _assert_error(client.get("/api/explain", params={"query": "zzzz", "item": ix.ids[0]}), 400, "bad_request",
                  "vocabulary")
    _assert_error(client.get("/api/explain", params={"item": ix.ids[0]}), 422, "invalid_request", "query")
    _assert_error(client.get("/api/explain", params={"query": "red", "item": ix.ids[0], "format": "svg"}),
                  422, "invalid_request", "format")
    _assert_error(client.get("/api/explain", params={"query": "r" * 600, "item": ix.ids[0]}), 422,
                  "invalid_request", "limit")


def test_missing_image_file_is_a_404_not_a_crash(serve_index, tmp_path):
    ix = Index.load(serve_index)
    ix.items[0] = {**ix.items[0], "image": str(tmp_path / "gone.png")}  # e.g. the dataset moved
    with TestClient(create_app(ix)) as c:
        _assert_error(c.get(f"/api/items/{ix.ids[0]}/thumbnail"), 404, "no_image")
        # the explain heatmap still renders (on grey) without the image
        r = c.get("/api/explain", params={"query": "red", "item": ix.ids[0]})
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"


# ---------------------------------------------------------------------------- concurrency, timeouts, overload
def test_concurrent_requests_share_the_index(ix):
    from concurrent.futures import ThreadPoolExecutor

    fresh = Index.load(ix.path)  # model and engines built once, at start
    queries = ["red circle", "blue square", "green star", "black triangle"] * 4
    with TestClient(create_app(fresh, limits=Limits(max_concurrent=4))) as c:
        with ThreadPoolExecutor(8) as ex:
            got = list(ex.map(lambda q: c.post("/api/search/text", json={"query": q, "k": 5, "rerank": 20}), queries))
    for q, r in zip(queries, got):
        assert r.status_code == 200
        assert [h["id"] for h in r.json()["hits"]] == [h.id for h in ix.search_text(q, k=5, rerank=20)]


class _Slow:
    """An index whose text search takes ``delay`` seconds (wraps a real one)."""

    def __init__(self, ix, delay):
        self._ix, self.delay, self.running, self.peak = ix, delay, 0, 0
        self._lock = threading.Lock()

    def __getattr__(self, name):
        return getattr(self._ix, name)

    def __len__(self):
        return len(self._ix)

    def search_text(self, *a, **kw):
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            time.sleep(self.delay)
            return self._ix.search_text(*a, **kw)
        finally:
            with self._lock:
                self.running -= 1


def _app_over(obj, limits):
    return create_app(obj, limits=limits)  # any object with the Index interface


def test_request_timeout_is_a_504(ix):
    with TestClient(_app_over(_Slow(ix, 1.0), Limits(request_timeout_s=0.2))) as c:
        t0 = time.perf_counter()
        r = c.post("/api/search/text", json={"query": "red"})
        assert time.perf_counter() - t0 < 0.9
        _assert_error(r, 504, "timeout", "0.2 s")


def test_overload_is_a_503_and_compute_is_bounded(ix):
    from concurrent.futures import ThreadPoolExecutor

    slow = _Slow(ix, 0.3)
    with TestClient(_app_over(slow, Limits(max_concurrent=2, max_queued=2))) as c:
        with ThreadPoolExecutor(10) as ex:
            rs = list(ex.map(lambda _: c.post("/api/search/text", json={"query": "red"}), range(10)))
    codes = sorted(r.status_code for r in rs)
    assert codes.count(200) >= 4 and codes.count(503) >= 1 and set(codes) <= {200, 503}
    busy = next(r for r in rs if r.status_code == 503)
    assert busy.json()["error"]["code"] == "overloaded" and busy.headers["retry-after"] == "1"
    assert slow.peak <= 2


def test_model_without_fine_grained_scoring(plain_index):
    ix = Index.load(plain_index)
    with TestClient(create_app(plain_index)) as c:
        h = c.get("/healthz").json()
        assert h["code_kind"] == "binary" and not h["rerank"] and not h["explain"]
        r = c.post("/api/search/text", json={"query": "red circle", "k": 4})
        assert r.status_code == 200
        assert [x["id"] for x in r.json()["hits"]] == [x.id for x in ix.search_text("red circle", k=4)]
        _assert_error(c.post("/api/search/text", json={"query": "red", "rerank": 10}), 400, "bad_request", "fine-grained")
        _assert_error(c.get("/api/explain", params={"query": "red", "item": ix.ids[0]}), 400, "bad_request",
                      "attention")
