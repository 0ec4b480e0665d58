"""``crossmedia serve``: one-line errors for a bad index or a missing extra, and the
multi-process mode (``--workers 2``) answering on loopback."""

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import crossmedia
from crossmedia.cli.main import main

ENV = dict(os.environ, PYTHONPATH=str(Path(crossmedia.__file__).parents[1]), CROSSMEDIA_NO_PROGRESS="1")


def test_serve_without_the_extra_is_a_clear_error(tmp_path):
    # a core-only install: fastapi/uvicorn cannot be imported; the CLI still loads and says what to install
    code = ("import sys; sys.modules['fastapi'] = None; sys.modules['uvicorn'] = None\n"
            "from crossmedia.serve import Limits; Limits()\n"
            "from crossmedia.cli.main import entry; sys.argv = ['crossmedia', 'serve', sys.argv[1]]; entry()")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, env=ENV)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "crossmedia[serve]" in lines[0]


def test_serve_bad_index_is_one_line(tmp_path, capsys):
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    assert main(["serve", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nope" in err and len(err.strip().splitlines()) == 1
    assert main(["serve", str(tmp_path), "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err


def test_serve_device_and_batching_options_checked(serve_index, capsys):
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    assert main(["serve", str(serve_index), "--device", "tpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --device") and len(err.strip().splitlines()) == 1
    assert main(["serve", str(serve_index), "--batch-wait-ms", "5000"]) == 2
    assert "--batch-wait-ms" in capsys.readouterr().err


@pytest.mark.slow
def test_serve_with_two_workers(serve_index):
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", "from crossmedia.cli.main import entry; entry()", "serve",
                             str(serve_index), "--port", str(port), "--workers", "2", "--log-level", "warning"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=ENV)
    try:
        deadline, ok = time.time() + 90, 0
        while ok < 4 and time.time() < deadline and proc.poll() is None:
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/api/search/text", method="POST",
                                             data=b'{"query": "red circle", "k": 3}',
                                             headers={"content-type": "application/json"})
                with urllib.request.urlopen(req, timeout=5) as r:
                    import json

                    body = json.loads(r.read())
                    assert len(body["hits"]) == 3
                    ok += 1
            except OSError:
                time.sleep(0.3)
        assert ok == 4, f"server exited {proc.poll()}"
    finally:
        proc.terminate()
        try:
            out = proc.communicate(timeout=15)[0].decode()
        except subprocess.TimeoutExpired:
            proc.kill()
            out = proc.communicate()[0].decode()
    assert "serving 120 items" in out
