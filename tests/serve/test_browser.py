"""End to end in a real browser: ``crossmedia serve`` in a subprocess on loopback, headless
Chromium (Debian ``chromium`` + ``chromium-driver``) driven with selenium loads the page, types
a query, waits for the result thumbnails, opens a heatmap, uploads an image, and checks the
phone-width layout. Screenshots (PNG) are saved under pytest's tmp dir and, when
``CROSSMEDIA_ARTIFACTS`` is set, copied there.

Skips (with the reason) when selenium or the browser is missing, unless
``CROSSMEDIA_REQUIRE_BROWSER=1`` (set by ``.ci/run`` once it has installed them): then it fails."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


def _need(cond, reason):
    if not cond:
        if os.environ.get("CROSSMEDIA_REQUIRE_BROWSER") == "1":
            pytest.fail(f"CROSSMEDIA_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(serve_index, tmp_path_factory):
    """``crossmedia serve INDEX`` (the real CLI and uvicorn) on a free loopback port."""
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    import crossmedia

    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(Path(crossmedia.__file__).parents[1]), CROSSMEDIA_NO_PROGRESS="1")
    log = tmp_path_factory.mktemp("server") / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-c", "from crossmedia.cli.main import entry; entry()", "serve",
                                 str(serve_index), "--port", str(port), "--log-level", "warning"],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"server did not start (exit {proc.poll()}):\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    _need(CHROMIUM is not None and DRIVER is not None,
          "chromium / chromedriver not installed (Debian: apt-get install chromium chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _need(False, "selenium is not installed (pip install selenium)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
              f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}", "--window-size=1280,900"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(DRIVER), options=opts)
    drv.set_page_load_timeout(30)
    try:
        yield drv
    finally:
        drv.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    """Save a screenshot (PNG) by name; copied to $CROSSMEDIA_ARTIFACTS when set."""
    folder = tmp_path_factory.mktemp("screenshots")
    dest = os.environ.get("CROSSMEDIA_ARTIFACTS")

    def save(drv, name):
        p = folder / f"{name}.png"
        assert drv.save_screenshot(str(p)), f"screenshot {name} failed"
        if dest:
            Path(dest).mkdir(parents=True, exist_ok=True)
            shutil.copy(p, Path(dest) / p.name)
        return p

    return save


def _wait(drv, cond, what, timeout=30):
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(drv, timeout, poll_frequency=0.1).until(lambda d: cond(d))
    except Exception as e:
        raise AssertionError(f"timed out waiting for {what}") from e


def _loaded_images(drv, css):
    return drv.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]))"
        ".map(i => i.complete && i.naturalWidth > 0);", css)


def _assert_picture(path, min_colours=20):
    from PIL import Image

    with Image.open(path) as im:
        assert im.format == "PNG" and im.width >= 300 and im.height >= 300
        assert len(im.convert("RGB").getcolors(1 << 20) or range(1 << 20)) >= min_colours  # not blank


def test_page_end_to_end(server, browser, shots, serve_index):
    import json

    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from crossmedia.search import Index

    ix = Index.load(serve_index)
    drv = browser
    drv.get(server + "/")
    _wait(drv, lambda d: d.execute_script("return document.body.dataset.ready === '1'"), "the page to be ready")
    assert "120 items" in drv.find_element(By.ID, "status").text
    _assert_picture(shots(drv, "01-page"), min_colours=5)

    # text query → grid of thumbnails
    box = drv.find_element(By.ID, "q")
    box.send_keys("red circle")
    k = drv.find_element(By.ID, "k")
    k.clear()
    k.send_keys("8", Keys.ENTER)
    _wait(drv, lambda d: (lambda s: len(s) == 8 and all(s))(_loaded_images(d, ".card.result img.thumb")),
          "8 loaded result thumbnails")
    ids = [c.get_attribute("data-id") for c in drv.find_elements(By.CSS_SELECTOR, ".card.result")]
    assert ids == [h.id for h in ix.search_text("red circle", k=8)]
    assert ix.item(ids[0])["text"] in drv.find_element(By.CSS_SELECTOR, ".card.result .cap").text
    _assert_picture(shots(drv, "02-text-results"))

    # click a result → its attention heatmap for the query words
    drv.find_elements(By.CSS_SELECTOR, ".card.result")[1].click()
    _wait(drv, lambda d: d.find_element(By.ID, "explain").is_displayed()
          and d.execute_script("const i = document.getElementById('heatmap'); "
                               "return i.complete && i.naturalWidth > 0 && i.dataset.item === arguments[0];", ids[1]),
          "the heatmap")
    assert "red, circle" in drv.find_element(By.ID, "explain-words").text
    width = drv.execute_script("return document.getElementById('heatmap').naturalWidth")
    assert width > 500  # the image + a panel per word
    _assert_picture(shots(drv, "03-heatmap"))

    # image upload → list of texts
    query_image = ix.item(ix.ids[7])["image"]
    drv.find_element(By.ID, "file").send_keys(query_image)
    _wait(drv, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#texts li.text-result")) == 8, "8 text results")
    got = [li.get_attribute("data-id") for li in drv.find_elements(By.CSS_SELECTOR, "#texts li.text-result")]
    assert got == [h.id for h in ix.search_image(query_image, k=8)]
    assert not drv.find_element(By.ID, "error").is_displayed()
    _assert_picture(shots(drv, "04-image-results"))

    # an error is shown, not swallowed
    box.clear()
    box.send_keys("zzzz qqqq", Keys.ENTER)
    _wait(drv, lambda d: d.find_element(By.ID, "error").is_displayed(), "the error message")
    assert "vocabulary" in drv.find_element(By.ID, "error").text

    # phone width: one column of controls, two-column grid, nothing wider than the screen
    drv.set_window_size(390, 844)
    drv.get(server + "/")
    _wait(drv, lambda d: d.execute_script("return document.body.dataset.ready === '1'"), "the page (phone)")
    drv.find_element(By.ID, "q").send_keys("blue square", Keys.ENTER)
    # thumbnails load lazily: those on the first screen must be there, the others once scrolled to
    _wait(drv, lambda d: (lambda s: len(s) == 12 and all(s[:2]))(_loaded_images(d, ".card.result img.thumb")),
          "phone results")
    overflow = drv.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, f"page is {overflow}px wider than a phone screen"
    cols = drv.execute_script(
        "return getComputedStyle(document.getElementById('results')).gridTemplateColumns.split(' ').length")
    assert cols == 2
    _assert_picture(shots(drv, "05-phone"))

    severe = [e for e in drv.get_log("browser") if e.get("level") == "SEVERE"
              and "zzzz" not in json.dumps(e) and "400" not in e.get("message", "")]
    assert not severe, severe
