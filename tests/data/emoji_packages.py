"""Tiny stand-ins for the npm emoji packages (made here; no package content is in the repository)."""

import io
import json
import tarfile

import numpy as np

GROUPS = {"0": "smileys-emotion", "1": "animals-nature", "2": "component", "3": "food-drink"}
SUBGROUPS = {"0": "face-smiling", "1": "face-sad", "2": "animal-mammal", "3": "skin-tone", "4": "food-fruit",
             "5": "food-sweet"}
# (group, subgroup) of the 32 fake emoji: 2 in "component" (dropped)
LAYOUT = [(0, 0)] * 6 + [(0, 1)] * 5 + [(1, 2)] * 7 + [(3, 4)] * 6 + [(3, 5)] * 6 + [(2, 3)] * 2
WORDS = ["sun", "happy", "red", "cat", "sweet", "fruit", "cold", "dog", "blue", "cake", "tear", "smile"]
ZH = ["太阳", "快乐", "红色", "猫", "甜", "水果", "冷", "狗", "蓝色", "蛋糕", "眼泪", "微笑"]


def _png(colour) -> bytes:
    from PIL import Image, ImageDraw

    im = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    ImageDraw.Draw(im).ellipse([8, 8, 56, 56], fill=tuple(colour) + (255,))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def package_files(versions=None) -> dict[str, dict[str, bytes]]:
    """{package name: {relative path: bytes}} for a 32-emoji catalogue; emoji 0 has skin tones;
    emojibase writes hexcodes without FE0F where the datasource has it (emoji 3)."""
    versions = {"emoji-datasource-google": "16.0.0", "emoji-datasource-twitter": "16.0.0", "emojibase-data": "17.0.0",
                **(versions or {})}
    rng = np.random.default_rng(0)
    ds_rows = []
    base = {lang: [] for lang in ("en", "zh")}
    files = {"emoji-datasource-google": {}, "emoji-datasource-twitter": {}, "emojibase-data": {}}
    for k, (g, sg) in enumerate(LAYOUT):
        hexcode = f"1F{0x600 + k:03X}"
        unified = hexcode + ("-FE0F" if k == 3 else "")
        stem = unified.lower()
        row = {"name": f"EMOJI {k}", "unified": unified, "image": f"{stem}.png", "sort_order": k,
               "has_img_google": True, "has_img_twitter": True}
        if k == 0:
            row["skin_variations"] = {t: {"unified": f"{hexcode}-{t}", "image": f"{stem}-{t.lower()}.png",
                                          "has_img_google": True, "has_img_twitter": True} for t in ("1F3FB", "1F3FC")}
        ds_rows.append(row)
        words = [int(w) for w in rng.choice(len(WORDS), size=int(rng.integers(2, 6)), replace=False)]
        for lang, vocab in (("en", WORDS), ("zh", ZH)):
            rec = {"label": f"emoji {k}" if lang == "en" else f"表情{k}", "hexcode": hexcode, "group": g, "subgroup": sg,
                   "tags": [vocab[w] for w in words], "order": k}
            if k == 0:
                rec["skins"] = [{"label": f"emoji 0 tone {t}", "hexcode": f"{hexcode}-{t}", "tone": i + 1}
                                for i, t in enumerate(("1F3FB", "1F3FC"))]
            base[lang].append(rec)
        for style, shift in (("google", 0), ("twitter", 90)):
            colour = [(37 * k + shift) % 256, (91 * k) % 256, (53 * k + 2 * shift) % 256]
            files[f"emoji-datasource-{style}"][f"img/{style}/64/{stem}.png"] = _png(colour)
            if k == 0:
                for t in ("1f3fb", "1f3fc"):
                    files[f"emoji-datasource-{style}"][f"img/{style}/64/{stem}-{t}.png"] = _png(colour[::-1])
    for style in ("google", "twitter"):
        name = f"emoji-datasource-{style}"
        files[name]["emoji.json"] = json.dumps(ds_rows).encode()
        files[name]["package.json"] = json.dumps({"name": name, "version": versions[name]}).encode()
    files["emojibase-data"]["package.json"] = json.dumps({"name": "emojibase-data", "version": versions["emojibase-data"]}).encode()
    files["emojibase-data"]["meta/groups.json"] = json.dumps({"groups": GROUPS, "subgroups": SUBGROUPS}).encode()
    for lang, recs in base.items():
        files["emojibase-data"][f"{lang}/data.json"] = json.dumps(recs, ensure_ascii=False).encode()
    return files


def write_packages(root, packed=False, versions=None, skip=()):
    """The packages under ``root`` as ``npm pack`` + ``tar xzf`` leave them (``<name>/package/…``),
    or as the ``.tgz`` files themselves."""
    root.mkdir(parents=True, exist_ok=True)
    for name, files in package_files(versions).items():
        if name in skip:
            continue
        version = json.loads(files["package.json"])["version"]
        if packed:
            with tarfile.open(root / f"{name}-{version}.tgz", "w:gz") as tf:
                for rel, data in files.items():
                    info = tarfile.TarInfo(f"package/{rel}")
                    info.size = len(data)
                    tf.addfile(info, io.BytesIO(data))
        else:
            for rel, data in files.items():
                p = root / name / "package" / rel
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(data)
    return root

