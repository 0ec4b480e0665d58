"""Tiny stand-ins for the Debian emoji files (made in the tests, nothing shipped): an
emoji-test.txt, CLDR annotations/annotationsDerived XML in English and Chinese, and either a
link to the installed Noto Color Emoji font or a hand-made font file header (for the version
checks, which read only the table directory and the name table)."""

from __future__ import annotations

import struct
from pathlib import Path

SYSTEM_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")

# (group line, subgroup, code points, status, English name, keywords, in annotationsDerived)
_FACES = [(f"1F6{0x00 + k:02X}", f"face {k}", ["face", "smile"] + (["grin"] if k % 2 else [])) for k in range(8)]
ROWS = (
    [("Smileys & Emotion", "face-smiling", cp, "fully-qualified", name, kw, False) for cp, name, kw in _FACES]
    + [("Smileys & Emotion", "face-affection", cp, "fully-qualified", name, kw, False) for cp, name, kw in [
        ("1F60D", "smiling face with heart-eyes", ["eye", "love"]), ("1F618", "face blowing a kiss", ["kiss"]),
        ("1F617", "kissing face", ["kiss", "face"])]]
    + [("Smileys & Emotion", "face-affection", "1F600 1F603", "fully-qualified", "two faces", ["pair"], False)]  # 2 glyphs
    + [("People & Body", "hand-fingers-open", cp, st, name, kw, der) for cp, st, name, kw, der in [
        ("1F44B", "fully-qualified", "waving hand", ["wave", "hand"], False),
        ("1F44B 1F3FB", "fully-qualified", "waving hand: light skin tone", ["wave", "hand", "light skin tone"], True),
        ("1F44B 1F3FC", "fully-qualified", "waving hand: medium-light skin tone", ["wave", "hand"], True),
        ("1F91A", "fully-qualified", "raised back of hand", ["backhand", "raised"], False),
        ("1F590 FE0F", "fully-qualified", "hand with fingers splayed", ["finger", "hand", "splayed"], False),
        ("1F590", "unqualified", "hand with fingers splayed", [], False)]]
    + [("People & Body", "family", cp, st, name, kw, der) for cp, st, name, kw, der in [
        ("1F9D1 200D 1F91D 200D 1F9D1", "fully-qualified", "people holding hands", ["couple", "hold"], True),
        ("1F9D1 1F3FB 200D 1F91D 200D 1F9D1 1F3FC", "fully-qualified", "people holding hands: mixed", ["couple"], True)]]
    + [("Component", "skin-tone", "1F3FB", "component", "light skin tone", ["skin tone"], False)]
    + [("Animals & Nature", "animal-mammal", cp, "fully-qualified", name, kw, False) for cp, name, kw in [
        ("1F436", "dog face", ["dog", "pet"]), ("1F431", "cat face", ["cat", "pet"]), ("1F42D", "mouse face", ["mouse"]),
        ("1F439", "hamster", ["pet"]), ("1F430", "rabbit face", ["bunny", "pet"]), ("1F98A", "fox", ["face"])]]
    + [("Food & Drink", "food-fruit", cp, "fully-qualified", name, kw, False) for cp, name, kw in [
        ("1F34E", "red apple", ["apple", "fruit", "red"]), ("1F350", "pear", ["fruit"]),
        ("1F34A", "tangerine", ["fruit", "orange"]), ("1F34B", "lemon", ["citrus", "fruit"])]]
    + [("Food & Drink", "food-fruit", "1FAE8", "fully-qualified", None, [], False)]  # no CLDR entry
    + [("Travel & Places", "sky & weather", "2600 FE0F", "fully-qualified", "sun", ["bright", "sunny"], False)]
    + [("Symbols", "keycap", "0023 FE0F 20E3", "fully-qualified", "keycap: #", ["keycap"], True)]
    + [("Flags", "country-flag", "1F1EB 1F1F7", "fully-qualified", "flag: France", ["flag"], True)]
)
# kept by the catalogue without skin tones: 8 + 3 faces, 3 hands, people holding hands, 6 mammals, 4 fruit, sun,
# keycap, flag
N_KEPT = 28
DROPPED = {"mixed or extra skin tones": 1, "no CLDR name": 1, "not drawn by the font": 1}


def _chars(cps: str) -> str:
    return "".join(chr(int(c, 16)) for c in cps.split())


def emoji_test(version="15.0") -> str:
    lines = ["# emoji-test.txt", f"# Version: {version}" if version else "# (no version line)", ""]
    group = sub = None
    for g, s, cps, status, name, _, _ in ROWS:
        if g != group:
            lines += ["", f"# group: {g}"]
            group, sub = g, None
        if s != sub:
            lines += ["", f"# subgroup: {s}"]
            sub = s
        lines.append(f"{cps:<40}; {status:<20}# {_chars(cps)} E1.0 {name or 'shaking face'}")
    return "\n".join(lines) + "\n"


def annotations(lang: str, derived: bool) -> str:
    out = ['<?xml version="1.0" encoding="UTF-8" ?>', '<!DOCTYPE ldml SYSTEM "../../common/dtd/ldml.dtd">',
           "<ldml>", f'\t<identity><version number="$Revision$"/><language type="{lang}"/></identity>', "\t<annotations>"]
    seen = set()
    for k, (_, _, cps, status, name, kw, der) in enumerate(ROWS):
        if name is None or status != "fully-qualified" or der != derived or cps in seen:
            continue
        seen.add(cps)
        cp = _chars(cps).replace("\ufe0f", "")  # CLDR writes cp without FE0F
        if lang == "zh":
            name, kw = f"表情{k}", [f"词{w}" for w in kw]
        out.append(f'\t\t<annotation cp="{cp}">{" | ".join(kw)}</annotation>')
        out.append(f'\t\t<annotation cp="{cp}" type="tts">{name}</annotation>')
    out += ["\t</annotations>", "</ldml>"]
    return "\n".join(out) + "\n"


def fake_font(version="Version 2.042;GOOG;noto-emoji", tables=("CBDT", "name")) -> bytes:
    """An sfnt header with a name table (ID 5 = ``version``) and empty other tables: enough for
    the table and version checks, not a font Pillow can draw with."""
    text = version.encode("utf-16-be")
    name = struct.pack(">HHH", 0, 1, 18) + struct.pack(">HHHHHH", 3, 1, 0x409, 5, len(text), 0) + text
    tags = sorted(tables)
    head = struct.pack(">IHHHH", 0x00010000, len(tags), 0, 0, 0)
    offset = 12 + 16 * len(tags)
    body, entries = b"", b""
    for t in tags:
        data = name if t == "name" else b"\0" * 8
        entries += struct.pack(">4sIII", t.encode(), 0, offset + len(body), len(data))
        body += data
    return head + entries + body


def write_debian_files(root: Path, layout="flat", font="system", emoji_version="15.0", cldr_version="41",
                       langs=("en", "zh"), skip=()) -> Path:
    """``layout`` "flat" (one folder) or "usr-share" (as the packages install under /usr/share);
    ``font`` "system" (a link to the installed font), bytes (written as the font), or None."""
    flat = layout == "flat"
    font_at = root / ("NotoColorEmoji.ttf" if flat else "fonts/truetype/noto/NotoColorEmoji.ttf")
    cldr = root if flat else root / "unicode/cldr/common"
    test_at = root / ("emoji-test.txt" if flat else "unicode/emoji/emoji-test.txt")
    for p in (font_at, test_at):
        p.parent.mkdir(parents=True, exist_ok=True)
    if font == "system":
        font_at.symlink_to(SYSTEM_FONT)
    elif font is not None:
        font_at.write_bytes(font)
    if "emoji-test" not in skip:
        test_at.write_text(emoji_test(emoji_version), encoding="utf-8")
    for lang in langs:
        for sub, derived in (("annotations", False), ("annotationsDerived", True)):
            if (sub, lang) in skip:
                continue
            (cldr / sub).mkdir(parents=True, exist_ok=True)
            (cldr / sub / f"{lang}.xml").write_text(annotations(lang, derived), encoding="utf-8")
    if cldr_version and not flat:
        (cldr / "dtd").mkdir(parents=True, exist_ok=True)
        (cldr / "dtd" / "ldml.dtd").write_text(f'<!ATTLIST version cldrVersion CDATA #FIXED "{cldr_version}" >\n')
    return root
