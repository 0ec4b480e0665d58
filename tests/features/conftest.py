import numpy as np
import pytest


@pytest.fixture
def fixtures_wiki(tmp_path):
    """A features-only dataset (no image files), prepared from a tiny Wikipedia-style release."""
    import scipy.io

    from crossmedia.data.loaders import prepare_dataset

    src = tmp_path / "wiki-src"
    src.mkdir()
    (src / "categories.list").write_text("a\nb\n")
    rng = np.random.default_rng(0)
    feats = {}
    for split, n, key in (("train", 20, "tr"), ("test", 8, "te")):
        (src / f"{split}set_txt_img_cat.list").write_text("".join(f"t{split}{i}\ti{split}{i}\t{i % 2 + 1}\n" for i in range(n)))
        feats[f"I_{key}"] = rng.random((n, 6))
        feats[f"T_{key}"] = rng.random((n, 3))
    scipy.io.savemat(src / "raw_features.mat", feats)
    return prepare_dataset("wikipedia", src, tmp_path / "wiki", nonstandard=True, n_val=2).root
