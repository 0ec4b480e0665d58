import importlib.util
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("CROSSMEDIA_NO_PROGRESS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("CROSSMEDIA_CACHE_DIR", tempfile.mkdtemp(prefix="crossmedia-test-cache-"))  # never ~/.cache


@pytest.fixture(scope="session")
def load_benchmark():
    """Import a script of ``benchmarks/`` as a module: ``load_benchmark("icons")``."""

    def load(name):
        spec = importlib.util.spec_from_file_location(
            f"bench_{name}", Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod  # dataclasses look their module up
        spec.loader.exec_module(mod)
        return mod

    return load


@pytest.fixture
def encoded_indices(monkeypatch):
    """The dataset rows the evaluator encodes during the test, in call order (a spy on
    ``crossmedia.eval.evaluator.encode_items``)."""
    from crossmedia.eval import evaluator

    seen = []
    real = evaluator.encode_items

    def spy(model, tensors, indices, *a, **k):
        seen.extend(np.asarray(indices).tolist())
        return real(model, tensors, indices, *a, **k)

    monkeypatch.setattr(evaluator, "encode_items", spy)
    return seen


def make_tiny_dataset(root, n=40, n_labels=4, seed=0, with_images=True):
    """A small hand-made dataset (not the synthetic generator): coloured squares + words."""
    from PIL import Image

    from crossmedia.data import Dataset, Protocol

    rng = np.random.default_rng(seed)
    colours = [(220, 30, 30), (30, 200, 30), (30, 30, 220), (220, 220, 30)][:n_labels]
    words = ["red", "green", "blue", "yellow"][:n_labels]
    items = []
    root.mkdir(parents=True, exist_ok=True)
    (root / "images").mkdir(exist_ok=True)
    for i in range(n):
        labels = sorted(set(rng.choice(n_labels, size=rng.integers(1, 3), replace=True).tolist()))
        arr = np.full((24, 24, 3), 230, np.uint8)
        for j, c in enumerate(labels):
            arr[2 + j * 10 : 10 + j * 10, 4:20] = colours[c]
        it = {"id": f"it{i}", "caption": "a picture of " + " and ".join(words[c] for c in labels),
              "tags": [words[c] for c in labels], "labels": labels}
        if with_images:
            Image.fromarray(arr).save(root / "images" / f"{i}.png")
            it["image"] = f"images/{i}.png"
        else:
            it["feature_row"] = i
        items.append(it)
    ds = Dataset(name="tiny", items=items, label_names=words)
    ds.save(root)
    proto = Protocol.random(n, n_query=n // 5, n_train=n // 2, n_val=n // 10, seed=seed, name="default",
                            labels=ds.labels)
    ds.save_protocol(proto)
    return Dataset.load(root)


@pytest.fixture
def prepared_wikipedia(tmp_path):
    """Makes a prepared Wikipedia-style dataset (features only, no image files) from a tiny release
    whose two views share a category signal: ``prepared_wikipedia(n_train=90, n_test=30, n_cat=3)``."""
    import scipy.io

    from crossmedia.data.loaders import prepare_dataset

    def make(n_train=90, n_test=30, n_cat=3, dim_i=12, dim_t=10, n_val=15):
        src = tmp_path / "wiki-src"
        src.mkdir()
        (src / "categories.list").write_text("".join(f"{chr(97 + c)}\n" for c in range(n_cat)))
        rng = np.random.default_rng(0)
        feats = {}
        for split, n, key in (("train", n_train, "tr"), ("test", n_test, "te")):
            c = np.arange(n) % n_cat
            (src / f"{split}set_txt_img_cat.list").write_text(
                "".join(f"t{split}{i}\ti{split}{i}\t{c[i] + 1}\n" for i in range(n)))
            feats[f"I_{key}"] = rng.random((n, dim_i)) + np.eye(dim_i)[c] * 2
            t = rng.random((n, dim_t)) + np.eye(dim_t)[c] * 3
            feats[f"T_{key}"] = t / t.sum(1, keepdims=True)
        scipy.io.savemat(src / "raw_features.mat", feats)
        return prepare_dataset("wikipedia", src, tmp_path / "wiki", nonstandard=True, n_val=n_val).root

    return make


@pytest.fixture
def tiny_dataset(tmp_path):
    return make_tiny_dataset(tmp_path / "tiny")


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray cluster (2 CPUs) shared by the Ray tests; shut down at the end of the session."""
    ray = pytest.importorskip("ray")
    import tempfile

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # loopback-only test cluster
    tmp = tempfile.mkdtemp(prefix="crossmedia-ray-")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=tmp,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1", "CROSSMEDIA_NO_PROGRESS": "1"}})
    yield ray
    try:
        from ray import serve

        serve.shutdown()
    except Exception:
        pass
    ray.shutdown()


#: how to run what a skip left out, keyed by a word of the skip reason
_ENABLE_HINTS = {
    "chromium": "install the browser: apt-get install chromium chromium-driver && pip install selenium (or run .ci/run)",
    "selenium": "pip install selenium, plus apt-get install chromium chromium-driver (or run .ci/run)",
    "torchvision": "pip install torchvision (optional backbones)",
    "cuda": "needs a CUDA GPU",
    "faiss": "pip install faiss-cpu",
}


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """At the end of every run: what was skipped, why, and how to run it."""
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        return
    reasons: dict[str, int] = {}
    for rep in skipped:
        longrepr = rep.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
        reason = reason.removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    tr = terminalreporter
    tr.write_sep("-", f"{len(skipped)} test(s) skipped, by reason")
    for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
        hint = next((h for key, h in _ENABLE_HINTS.items() if key in reason.lower()), None)
        tr.write_line(f"{n:>4} x {reason}" + (f"\n       to run them: {hint}" if hint else ""))
