"""The service follows the index (add/remove while serving: the new version within 5 s, never an
error), closes slow connections, caps open connections, answers HEAD, checks Host, refuses
size-bomb images with 413 and non-HTTP/1.x request lines."""

import io
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

import crossmedia  # noqa: E402

ENV = dict(os.environ, PYTHONPATH=str(Path(crossmedia.__file__).parents[1]), CROSSMEDIA_NO_PROGRESS="1")


def _query_ids(data):
    from crossmedia.data import Dataset

    ds = Dataset.load(data)
    return [str(ds.items[int(i)]["id"]) for i in ds.protocol()["query"]]


# ---------------------------------------------------------------------------- in-process (TestClient)
def _client(app, **kw):
    from fastapi.testclient import TestClient

    return TestClient(app, **kw)


def test_app_follows_new_versions_and_reload_endpoint(index_copy, rel_data):
    from crossmedia.search import Index
    from crossmedia.serve import Limits
    from crossmedia.serve.app import create_app

    app = create_app(index_copy, limits=Limits(reload_poll_s=0.1))
    with _client(app) as c:
        h0 = c.get("/healthz").json()
        assert h0["items"] == 54 and h0["version"] == "v000001"
        Index.load(index_copy).add(rel_data, split="query")
        new_id = _query_ids(rel_data)[0]
        deadline = time.time() + 5
        while c.get("/healthz").json()["items"] != 60:
            assert time.time() < deadline, "the service did not pick up the new version within 5 s"
            time.sleep(0.05)
        assert c.get(f"/api/items/{new_id}").status_code == 200
        Index.load(index_copy).remove([new_id])
        r = c.post("/admin/reload")  # from the loopback test client: at once
        assert r.status_code == 200 and r.json()["items"] == 59
        assert c.get(f"/api/items/{new_id}").status_code == 404
        hits = c.post("/api/search/text", json={"query": "red circle", "k": 100}).json()["hits"]
        assert new_id not in [h["id"] for h in hits] and len(hits) == 59
    with _client(app, client=("10.1.2.3", 5555)) as c:
        r = c.post("/admin/reload")
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


def test_a_broken_new_version_keeps_the_old_one_serving(index_copy, rel_data):
    from crossmedia.search import Index
    from crossmedia.serve import Limits
    from crossmedia.serve.app import create_app

    app = create_app(index_copy, limits=Limits(reload_poll_s=0.1))
    with _client(app) as c:
        new = Index.load(index_copy).add(rel_data, split="query")
        # the new version is damaged before the server opens it
        with open(new.files / "image_db.npy", "r+b") as f:
            f.seek(-1, 2)
            f.write(b"\xff")
        app.state.service.maybe_reload()
        h = c.get("/healthz").json()
        assert h["items"] == 54 and h["version"] == "v000001"
        assert c.post("/admin/reload").status_code == 409
        assert c.post("/api/search/text", json={"query": "red", "k": 3}).status_code == 200


def test_head_and_host_allow_list(rel_index):
    from crossmedia.serve.app import create_app

    app = create_app(rel_index, allowed_hosts=["search.example.org", "*.example.net"])
    with _client(app, base_url="http://search.example.org") as c:
        r = c.head("/healthz")
        assert r.status_code == 200 and r.content == b"" and int(r.headers["content-length"]) > 0
        assert c.head("/").status_code == 200
        assert c.get("/healthz", headers={"host": "a.example.net:8000"}).status_code == 200
        r = c.get("/healthz", headers={"host": "evil.example.com"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_host"


def _png_declaring(width, height) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 10, 10)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    ihdr = bytearray(data[16:29])  # width, height, depth, colour type, ...
    ihdr[0:8] = struct.pack(">II", width, height)
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)) & 0xFFFFFFFF)
    return bytes(data)


def test_size_bomb_image_is_413(rel_index):
    from crossmedia.serve.app import create_app

    with _client(create_app(rel_index)) as c:
        for side in (30000, 5000):
            r = c.post("/api/search/image", files={"file": ("bomb.png", _png_declaring(side, side), "image/png")})
            assert r.status_code == 413 and r.json()["error"]["code"] == "image_too_big", (side, r.text)


# ---------------------------------------------------------------------------- a real server
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(index_copy):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", "from crossmedia.cli.main import entry; entry()", "serve",
                             str(index_copy), "--port", str(port), "--log-level", "warning", "--header-timeout", "1",
                             "--body-timeout", "1", "--max-connections", "8"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=ENV)
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5):
                break
        except OSError:
            assert proc.poll() is None and time.time() < deadline, "server did not start"
            time.sleep(0.2)
    yield port, index_copy
    proc.terminate()
    try:
        proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


def _get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return r.status, json.loads(r.read())


def _search(port, query="red circle", k=100):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/search/text", method="POST",
                                 data=json.dumps({"query": query, "k": k}).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, json.loads(r.read())


def test_add_and_remove_while_serving(server, rel_data):
    port, index = server
    env_cli = [sys.executable, "-c", "from crossmedia.cli.main import entry; entry()"]
    stop, errors, answers = threading.Event(), [], [0]

    def client():
        while not stop.is_set():
            try:
                status, body = _search(port)
                if status != 200 or len(body["hits"]) not in (54, 60):
                    errors.append((status, len(body.get("hits", []))))
                answers[0] += 1
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

    t = threading.Thread(target=client)
    t.start()
    try:
        ids = _query_ids(rel_data)
        for args, items in ((["index", "add", str(index), "--data", str(rel_data), "--split", "query"], 60),
                            (["index", "remove", str(index), *ids], 54)):
            r = subprocess.run(env_cli + args, capture_output=True, text=True, env=ENV, timeout=300)
            assert r.returncode == 0, r.stderr
            t0 = time.time()
            while _get(port, "/healthz")[1]["items"] != items:
                assert time.time() - t0 < 5, "new version not served within 5 s"
                time.sleep(0.05)
            found = [h["id"] for h in _search(port)[1]["hits"]]
            assert (ids[0] in found) == (items == 60)
            status = None
            try:
                status = urllib.request.urlopen(f"http://127.0.0.1:{port}/api/items/{ids[0]}", timeout=10).status
            except urllib.error.HTTPError as e:
                status = e.code
            assert status == (200 if items == 60 else 404)
    finally:
        stop.set()
        t.join()
    assert errors == [] and answers[0] > 0


def _closed_within(sock, seconds) -> tuple[bool, bytes]:
    """Whether the server closes ``sock`` within ``seconds`` (and what it sent before)."""
    sock.settimeout(seconds)
    got = b""
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return True, got
            got += chunk
    except (TimeoutError, socket.timeout):
        return False, got
    except ConnectionResetError:
        return True, got


def test_slow_and_silent_connections_are_closed(server):
    port, _ = server
    silent = socket.create_connection(("127.0.0.1", port))
    slow_headers = socket.create_connection(("127.0.0.1", port))
    slow_headers.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    slow_body = socket.create_connection(("127.0.0.1", port))
    slow_body.sendall(b"POST /api/search/text HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n"
                      b"content-length: 100\r\n\r\n{\"query\"")
    for s, what in ((silent, "silent"), (slow_headers, "slow headers"), (slow_body, "slow body")):
        closed, got = _closed_within(s, 5)
        assert closed, f"{what}: connection still open after 5 s (timeout 1 s)"
        assert got == b"" or got.startswith(b"HTTP/1.1 408"), got[:80]
        s.close()
    assert _get(port, "/healthz")[0] == 200


def test_connection_cap_and_http09(server):
    port, _ = server
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]
    try:
        extra = socket.create_connection(("127.0.0.1", port))
        closed, got = _closed_within(extra, 3)
        assert closed and got.startswith(b"HTTP/1.1 503"), got[:80]
        extra.close()
    finally:
        for s in held:
            s.close()
    time.sleep(0.3)
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /healthz\r\n\r\n")
    closed, got = _closed_within(s, 3)
    assert closed and not got.startswith(b"HTTP/1.1 200"), got[:80]
    s.close()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    closed, got = _closed_within(s, 3)
    assert got.startswith(b"HTTP/1.1 200") and got.endswith(b"\r\n\r\n"), got[:200]
    s.close()
