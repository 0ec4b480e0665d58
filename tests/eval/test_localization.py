"""Attention localisation and heatmaps reach every model with word-region attention (CMSL too)."""

import numpy as np

from crossmedia.config import resolve_config
from crossmedia.data.loading import load_run_data
from crossmedia.data.make_synth import make_synthetic_dataset
from crossmedia.eval.localization import attention_localization
from crossmedia.models import load
from crossmedia.train import train

SMALL_CMSL = ["model.name=cmsl", "model.bits=16", "model.K=16", "model.global_dim=8", "model.cnn_channels=[4, 8, 8, 8]",
              "model.image_hidden=16", "model.text_hidden=16", "model.graph.dim=8", "model.graph.walks_per_node=2",
              "model.graph.walk_length=10", "model.graph.knn=3", "model.graph.epochs=1", "model.local.dim=8",
              "model.local.out_dim=4", "model.quant.kmeans_iters=3", "train.batch_size=32", "train.epochs=1",
              "train.val_every=0", "train.threads=1", "data.text_field=caption"]


def test_cmsl_has_a_region_grid_heatmaps_and_localisation(tmp_path):
    """Regression: CMSL had word-region attention but no ``region_grid``, so `crossmedia explain`
    silently drew no heatmaps for it and the attention-localisation measure refused it."""
    from crossmedia.explain import write_visual_comparison

    make_synthetic_dataset(tmp_path / "d", n=120, seed=0, image_size=24)
    run = train(resolve_config(None, SMALL_CMSL, data__root=str(tmp_path / "d")), tmp_path / "run")
    model = load(run.path)
    assert model.supports_fine_grained and model.region_grid == 3
    s = write_visual_comparison(run.path, None, None, tmp_path / "ex", ["red zzz circle"], k=3)
    assert len(s["attention_pngs"]) == 1
    rd = load_run_data(run.load_config()["data"], vocab_words=list(model.info.vocab))
    res = attention_localization(model, rd, np.asarray(rd.protocol["query"]), kind="shape")
    assert res["grid"] == 3 and res["trials"] > 0 and 0.0 <= res["hit_rate"] <= 1.0
