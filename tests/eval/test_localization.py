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


# ---------------------------------------------------------------------------- icon scenes
def _icon_item(text):
    return {"tags" if not isinstance(text, str) else "caption": text,
            "icons": [{"name": "red apple", "bbox": [0, 0, 64, 64]}, {"name": "dog", "bbox": [64, 64, 128, 128]},
                      {"name": "green apple", "bbox": [64, 0, 128, 64]}]}


def test_icon_word_trials_take_words_naming_exactly_one_icon_of_the_scene():
    from crossmedia.data.text import Vocabulary
    from crossmedia.eval.localization import icon_word_trials, object_cells

    words = ["<pad>", "<unk>", "red", "apple", "dog", "green", "red apple", "cat"]
    vocab = Vocabulary(words, "words")
    # running text: "apple" names two icons, "of"-like stop words none; "green" is not in the text
    trials = icon_word_trials(_icon_item("a red apple and a dog"), vocab, "caption")
    assert trials == [(2, (0, 0, 64, 64)), (4, (64, 64, 128, 128))]
    # a tag list under the ascii tokenizer: each tag is one token, the icon's whole name
    tags = Vocabulary(words, "ascii")
    assert icon_word_trials(_icon_item(["red apple", "cat", "dog"]), tags, "tags") == [
        (6, (0, 0, 64, 64)), (4, (64, 64, 128, 128))]
    # ... and under the word tokenizer its words, as for running text
    assert icon_word_trials(_icon_item(["red apple", "cat", "dog"]), vocab, "tags") == [
        (2, (0, 0, 64, 64)), (4, (64, 64, 128, 128))]
    assert icon_word_trials({"icons": []}, vocab, "caption") == []
    # cells whose centres lie in the box; a box smaller than a cell gets the cell of its centre
    assert object_cells((0, 0, 64, 64), 4, 128).tolist() == [0, 1, 4, 5]
    assert object_cells((70, 70, 80, 80), 4, 128).tolist() == [10]


class _StubModel:
    """Attention of every word peaked on one fixed region, or on the region of its icon."""
    supports_fine_grained, model_name, region_grid, training = True, "stub", 4, False

    def __init__(self, vocab, items, on_icon):
        self.vocab, self.items, self.on_icon = vocab, items, on_icon

    def eval(self):
        return self

    def train(self, mode=True):
        return self

    def word_region_attention(self, images, texts):
        import torch

        from crossmedia.eval.localization import icon_word_trials, object_cells

        out = []
        for k, tok in enumerate(texts["tokens"]):
            ids = [int(t) for t in tok if t >= 2]
            boxes = dict(icon_word_trials(self.items[int(texts["idx"][k])], self.vocab, "caption"))
            a = torch.zeros(len(ids), 16)
            for r, wid in enumerate(ids):
                a[r, int(object_cells(boxes[wid], 4, 128)[0]) if (self.on_icon and wid in boxes) else 15] = 1.0
            out.append(a)
        return out


def test_icon_localisation_counts_hits_against_the_share_of_cells_in_the_box():
    from types import SimpleNamespace

    import pytest
    import torch

    from crossmedia.data.text import Vocabulary
    from crossmedia.errors import UserError
    from crossmedia.eval.localization import icon_attention_localization

    vocab = Vocabulary(["<pad>", "<unk>", "red", "apple", "dog", "green"], "words")
    items = [_icon_item("a red apple and a dog"), _icon_item("green dog")]

    def batch(idx):
        seqs, _ = vocab.sequences([items[i]["caption"] for i in idx], 8)
        return {"tokens": torch.from_numpy(seqs), "idx": torch.as_tensor(idx)}

    rd = SimpleNamespace(dataset=SimpleNamespace(meta={"source": {"generator": "crossmedia.data.icon_scenes",
                                                                  "image_size": 128}}, items=items, root="d"),
                         tensors=SimpleNamespace(text_field="caption", batch=batch), vocab=vocab)
    good = icon_attention_localization(_StubModel(vocab, items, True), rd, [0, 1])
    assert good["trials"] == 4 and good["hit_rate"] == 1.0 and good["grid"] == 4
    assert good["chance"] == pytest.approx(0.25) and good["mean_mass_on_icon"] == 1.0  # 4 of 16 cells per box
    bad = icon_attention_localization(_StubModel(vocab, items, False), rd, [0, 1])  # always the bottom-right cell
    assert bad["hit_rate"] == pytest.approx(0.5)  # the dog's box holds cell 15, the others' do not
    rd.dataset.meta = {"source": {}}
    with pytest.raises(UserError, match="icon-scene dataset"):
        icon_attention_localization(_StubModel(vocab, items, True), rd, [0])
