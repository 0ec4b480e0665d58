import json

import numpy as np
import pytest
from emoji_debian_files import DROPPED, N_KEPT, SYSTEM_FONT, fake_font, write_debian_files
from emoji_packages import write_packages

from crossmedia.cli.main import main
from crossmedia.data import Dataset
from crossmedia.data.emoji import detect_route, load_catalogue
from crossmedia.data.emoji_debian import find_debian_files, font_info, read_annotations, read_emoji_test
from crossmedia.errors import DataError

needs_font = pytest.mark.skipif(not SYSTEM_FONT.is_file(), reason=f"the Debian font is not installed ({SYSTEM_FONT}; "
                                "apt-get install fonts-noto-color-emoji)")


def test_emoji_test_and_cldr_parsing(tmp_path):
    root = write_debian_files(tmp_path / "deb", font=fake_font())
    rows = read_emoji_test(root / "emoji-test.txt")
    assert rows[0] == {"text": "\U0001F600", "hexcode": "1f600", "group": "smileys-emotion", "subgroup": "face-smiling"}
    assert {r["group"] for r in rows} == {"smileys-emotion", "people-body", "animals-nature", "food-drink", "travel-places",
                                          "symbols", "flags"}  # '# group: Smileys & Emotion' → emojibase's names
    assert {r["subgroup"] for r in rows if r["group"] == "travel-places"} == {"sky-weather"}  # 'sky & weather'

    assert not any(r["hexcode"] == "1f590" for r in rows) and any(r["hexcode"] == "1f590-fe0f" for r in rows)
    en = read_annotations(root, "en")
    assert en["1F34E"] == {"name": "red apple", "tags": ["apple", "fruit", "red"]}
    assert en["1F590"]["name"] == "hand with fingers splayed"  # CLDR's cp has no FE0F; keys are norm_hex
    assert en["1F44B-1F3FB"]["name"] == "waving hand: light skin tone"  # from annotationsDerived
    assert read_annotations(root, "zh")["1F34E"]["name"].startswith("表情")
    version, tables = font_info(root / "NotoColorEmoji.ttf")
    assert version.startswith("Version 2.042") and {"CBDT", "name"} <= tables


def test_route_detection_and_one_line_errors(tmp_path, capsys):
    deb = write_debian_files(tmp_path / "deb", layout="usr-share", font=fake_font())
    assert detect_route(deb) == "debian"
    files = find_debian_files(deb, "en")
    assert files.versions == {"fonts-noto-color-emoji": "2.042", "unicode-cldr-core": "41", "unicode-data": "15.0"}
    assert detect_route(write_packages(tmp_path / "npm")) == "npm"
    both = write_debian_files(write_packages(tmp_path / "both"), font=fake_font())
    assert detect_route(both) == "npm"  # the npm packages win when a folder holds both
    (tmp_path / "empty").mkdir()
    cases = [
        (tmp_path / "empty", "neither the npm emoji packages"),
        (write_debian_files(tmp_path / "notest", font=fake_font(), skip=("emoji-test",)), "emoji-test.txt (unicode-data) not found"),
        (write_debian_files(tmp_path / "nofont", font=None), "NotoColorEmoji.ttf (fonts-noto-color-emoji) not found"),
        (write_debian_files(tmp_path / "old", font=fake_font(), emoji_version="12.1"), "version 12.1, expected 13.0 or newer"),
        (write_debian_files(tmp_path / "oldcldr", layout="usr-share", font=fake_font(), cldr_version="36"),
         "CLDR version 36, expected 38 or newer"),
        (write_debian_files(tmp_path / "nocbdt", font=fake_font(tables=("name", "glyf"))), "not a CBDT colour-bitmap font"),
        (write_debian_files(tmp_path / "oldfont", font=fake_font("Version 1.39")), "font version 'Version 1.39'"),
        (write_debian_files(tmp_path / "noderived", font=fake_font(), skip=(("annotationsDerived", "en"),)),
         "annotationsDerived/en.xml: not found"),
    ]
    for src, why in cases:
        out = tmp_path / "out"
        assert main(["data", "prepare", "emoji", "--src", str(src), "--out", str(out)]) == 2, why
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("error: ") and why in err, (why, err)
        assert not out.exists()
    assert "apt-get install fonts-noto-color-emoji unicode-cldr-core unicode-data" in \
        str(pytest.raises(DataError, find_debian_files, tmp_path / "nofont", "en").value)
    with pytest.raises(DataError, match="annotations/ja.xml"):
        load_catalogue(deb, lang="ja")
    with pytest.raises(DataError, match="debian route, whose styles are noto; google needs the npm packages"):
        load_catalogue(deb, styles=("google",))


@needs_font
def test_debian_catalogue_join_groups_and_artwork(tmp_path):
    root = write_debian_files(tmp_path / "deb")
    cat = load_catalogue(root)
    assert cat.route == "debian" and cat.styles == ("noto",) and len(cat.emojis) == N_KEPT
    assert cat.dropped == DROPPED  # mixed tones, no CLDR name, two glyphs
    assert cat.groups == ["smileys-emotion", "people-body", "animals-nature", "food-drink", "travel-places", "symbols",
                          "flags"]
    assert "sky-weather" in cat.subgroups
    assert cat.subgroups[:2] == ["face-smiling", "face-affection"] and "skin-tone" not in cat.subgroups
    apple = next(e for e in cat.emojis if e.hexcode == "1f34e")
    assert (apple.name, apple.tags, apple.subgroup, apple.group) == ("red apple", ["apple", "fruit", "red"], "food-fruit",
                                                                     "food-drink")
    assert apple.keywords[0] == "red apple"
    assert any(e.hexcode == "1f590-fe0f" for e in cat.emojis)  # FE0F join
    a, b = cat.icon_rgba(apple, "noto"), cat.icon_rgba(cat.emojis[0], "noto")
    assert a.shape == (64, 64, 4) and a.dtype == np.uint8 and a[..., 3].mean() > 40 and not np.array_equal(a, b)
    assert a[32, 32, 0] > a[32, 32, 2]  # a red apple is red in the middle
    tones = load_catalogue(root, skin_tones=True)
    extra = [e for e in tones.emojis if e.tone]
    assert sorted(e.tone for e in extra) == [1, 2] and {e.subgroup for e in extra} == {"hand-fingers-open"}
    zh = load_catalogue(root, lang="zh")
    assert zh.emojis[0].name.startswith("表情") and zh.emojis[0].name_en == "face 0"


@needs_font
def test_debian_prepare_and_scenes_from_usr_share_layout(tmp_path, capsys):
    root = write_debian_files(tmp_path / "share", layout="usr-share")
    out = tmp_path / "icons"
    assert main(["-q", "data", "prepare", "emoji", "--src", str(root), "--out", str(out)]) == 0
    ds = Dataset.load(out)
    assert len(ds) == N_KEPT and ds.items[0]["id"] == "noto/1f600" and ds.items[0]["style"] == "noto"
    src = ds.meta["source"]
    assert src["route"] == "debian" and src["packages"]["unicode-cldr-core"] == "41"
    assert src["packages"]["unicode-data"] == "15.0" and src["dropped"] == DROPPED
    from PIL import Image

    assert Image.open(out / ds.items[0]["image"]).size == (64, 64)
    report = json.loads((out / "prepare_report.json").read_text(encoding="utf-8"))
    assert report["warnings"] == []
    assert main(["-q", "data", "synth-icons", "--src", str(root), "--out", str(tmp_path / "sc"), "--n", "20"]) == 0
    sc = Dataset.load(tmp_path / "sc")
    assert sc.meta["source"]["styles"] == ["noto"] and len(sc) == 20
    capsys.readouterr()
    assert main(["data", "prepare", "emoji", "--src", str(root), "--out", str(tmp_path / "x"), "--styles", "twitter"]) == 2
    assert "debian route" in capsys.readouterr().err
