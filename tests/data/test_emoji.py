import json

import numpy as np
import pytest
from emoji_packages import LAYOUT, write_packages

from crossmedia.cli.main import main
from crossmedia.data import Dataset
from crossmedia.data.emoji import load_catalogue, norm_hex
from crossmedia.errors import DataError


def _centre_colour(rgba):
    return tuple(int(v) for v in rgba[32, 32, :3])


def test_join_on_hexcode_drops_component_and_pairs_each_image_with_its_emoji(emoji_src):
    cat = load_catalogue(emoji_src, styles=("google", "twitter"))
    assert len(cat.emojis) == len(LAYOUT) - 2  # the 2 "component" items are dropped
    assert "component" not in cat.groups and cat.subgroups == ["face-smiling", "face-sad", "animal-mammal",
                                                                "food-fruit", "food-sweet"]
    for e in cat.emojis:
        k = int(e.key, 16) - 0x1F600
        assert (e.group, e.subgroup) == ({0: "smileys-emotion", 1: "animals-nature", 3: "food-drink"}[LAYOUT[k][0]],
                                         ["face-smiling", "face-sad", "animal-mammal", "skin-tone", "food-fruit",
                                          "food-sweet"][LAYOUT[k][1]])
        assert e.name == f"emoji {k}"
        # the artwork drawn for emoji k (colour a function of k and the style)
        assert _centre_colour(cat.icon_rgba(e, "google")) == ((37 * k) % 256, (91 * k) % 256, (53 * k) % 256)
        assert _centre_colour(cat.icon_rgba(e, "twitter")) == ((37 * k + 90) % 256, (91 * k) % 256, (53 * k + 180) % 256)
    fe0f = next(e for e in cat.emojis if e.name == "emoji 3")  # datasource 1F603-FE0F ↔ emojibase 1F603
    assert fe0f.hexcode == "1f603-fe0f" and fe0f.key == norm_hex("1F603-FE0F") == "1F603"


def test_skin_tones_only_when_asked_and_packed_equals_unpacked(tmp_path, emoji_src):
    base = load_catalogue(emoji_src)
    tones = load_catalogue(emoji_src, skin_tones=True)
    assert len(tones.emojis) == len(base.emojis) + 2
    assert sorted(e.tone for e in tones.emojis if e.tone) == [1, 2]
    assert all(e.subgroup == "face-smiling" for e in tones.emojis if e.tone)
    packed = load_catalogue(write_packages(tmp_path / "tgz", packed=True), lang="zh")
    unpacked = load_catalogue(emoji_src, lang="zh")
    assert [(e.hexcode, e.name, e.tags) for e in packed.emojis] == [(e.hexcode, e.name, e.tags) for e in unpacked.emojis]
    assert packed.emojis[0].name.startswith("表情")


@pytest.mark.parametrize("packed", [False, True])
def test_missing_or_wrong_version_is_one_line_exit_2(tmp_path, capsys, packed):
    src = write_packages(tmp_path / "old", packed=packed, versions={"emojibase-data": "16.0.0"})
    out = tmp_path / "out"
    assert main(["data", "prepare", "emoji", "--src", str(src), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ")
    assert "emojibase-data is version 16.0.0, expected 17.0.0" in err and "npm pack emojibase-data@17.0.0" in err
    assert not out.exists()
    src2 = write_packages(tmp_path / "nogoogle", packed=packed, skip=("emoji-datasource-google",))
    assert main(["data", "prepare", "emoji", "--src", str(src2), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "emoji-datasource-google not found" in err
    assert "npm pack emoji-datasource-google@16.0.0" in err and not out.exists()
    with pytest.raises(DataError, match="not found"):
        load_catalogue(tmp_path / "nowhere")


def test_prepare_single_icons_two_levels_and_cross_style(tmp_path, emoji_src, capsys):
    out = tmp_path / "icons"
    assert main(["-q", "data", "prepare", "emoji", "--src", str(emoji_src), "--out", str(out),
                 "--styles", "google,twitter"]) == 0
    ds = Dataset.load(out)
    n = len(LAYOUT) - 2
    assert len(ds) == 2 * n and ds.n_labels == 5
    assert ds.items[0]["id"] == "google/1f600" and ds.items[n]["style"] == "twitter"
    assert all(len(it["labels"]) == 1 and ds.label_names[it["labels"][0]] == it["subgroup"] for it in ds.items)
    assert ds.meta["tokenizer"] == "words"
    d = ds.protocol("default")
    assert all(ds.items[i]["style"] == "google" for s in d.splits.values() for i in s)
    x = ds.protocol("cross-style")
    assert all(ds.items[i]["style"] == "google" for i in np.concatenate([x["train"], x["val"]]))
    assert all(ds.items[i]["style"] == "twitter" for i in np.concatenate([x["query"], x["retrieval"]]))
    trained = {ds.items[i]["hexcode"] for i in x["train"]}
    assert not trained & {ds.items[i]["hexcode"] for i in np.concatenate([x["query"], x["retrieval"]])}
    # flattened on white: a corner pixel of an icon is white
    from PIL import Image

    assert Image.open(out / ds.items[0]["image"]).getpixel((0, 0)) == (255, 255, 255)
    coarse = tmp_path / "coarse"
    assert main(["-q", "data", "prepare", "emoji", "--src", str(emoji_src), "--out", str(coarse),
                 "--label-level", "group", "--lang", "zh"]) == 0
    ds2 = Dataset.load(coarse)
    assert ds2.label_names == ["smileys-emotion", "animals-nature", "food-drink"]
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in "".join(it["tags"])) for it in ds2.items)
    report = json.loads((coarse / "prepare_report.json").read_text(encoding="utf-8"))
    assert report["warnings"] == []
