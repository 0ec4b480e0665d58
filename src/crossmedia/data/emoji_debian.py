"""The npm-free route to the emoji catalogue: files of three Debian packages.

* ``fonts-noto-color-emoji``: ``NotoColorEmoji.ttf``, a CBDT colour-bitmap font; each emoji is
  drawn with Pillow at the font's native size (:data:`FONT_SIZE`, 136×128 bitmaps), centred on a
  square and resized to 64×64 — the artwork style ``noto``;
* ``unicode-cldr-core``: ``annotations/<lang>.xml`` and ``annotationsDerived/<lang>.xml``, the
  CLDR keywords (``<annotation cp="…">a | b | c</annotation>``) and names (``type="tts"``);
* ``unicode-data``: ``emoji/emoji-test.txt``, the emoji in CLDR order with their **group and
  subgroup** (neither CLDR package carries them); only ``fully-qualified`` lines are used.

``--src`` is a folder that holds the three files, either as the packages install them under
``/usr/share`` (``--src /usr/share``) or copied into one folder (``NotoColorEmoji.ttf``,
``annotations/``, ``annotationsDerived/``, ``emoji-test.txt``); :data:`PLACES` lists where each is
looked for. Versions are read from the files (the font's name table, ``# Version:`` of
emoji-test.txt, ``cldrVersion`` of the CLDR DTD when it is there) and must be at least
:data:`MIN_VERSIONS`; the font must be a CBDT bitmap font.

Join: emoji-test's code points and CLDR's ``cp`` (which CLDR writes without FE0F) are compared
as :func:`crossmedia.data.emoji.norm_hex` keys. An emoji is kept when it has a CLDR name and the
font draws it as one glyph; the counts of those dropped are recorded in the catalogue.
"""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError

FONT_SIZE = 109  # the only strike of Noto Color Emoji: 136×128 px bitmaps
APT_LINE = "apt-get install fonts-noto-color-emoji unicode-cldr-core unicode-data"
MIN_VERSIONS = {"emoji-test.txt": (13, 0), "cldr": 38, "font": (2, 0)}
MAX_FILE_BYTES = 64 * 1024 * 1024  # NotoColorEmoji.ttf is 11 MB, the CLDR XML < 2 MB
PLACES = {
    "font": ["NotoColorEmoji.ttf", "fonts/truetype/noto/NotoColorEmoji.ttf",
             "share/fonts/truetype/noto/NotoColorEmoji.ttf"],
    "cldr": [".", "common", "cldr/common", "unicode/cldr/common", "share/unicode/cldr/common"],  # holding annotations/
    "emoji-test.txt": ["emoji-test.txt", "emoji/emoji-test.txt", "unicode/emoji/emoji-test.txt",
                       "share/unicode/emoji/emoji-test.txt"],
}
PACKAGE_OF = {"font": "fonts-noto-color-emoji", "cldr": "unicode-cldr-core", "emoji-test.txt": "unicode-data"}


@dataclass(frozen=True)
class DebianFiles:
    font: Path
    cldr: Path  # the folder holding annotations/ and annotationsDerived/
    emoji_test: Path
    versions: dict  # Debian package name → version found in its file (CLDR: None when unreadable)


def _find(src: Path, kind: str, lang: str | None = None) -> Path | None:
    for rel in PLACES[kind]:
        p = (src / rel).resolve() if rel != "." else src
        if kind == "cldr":
            if (p / "annotations" / f"{lang or 'en'}.xml").is_file():
                return p
        elif p.is_file():
            return p
    return None


def has_debian_files(src: str | Path) -> bool:
    """Whether ``src`` holds any of the three files (the route is then the Debian one)."""
    src = Path(src)
    return src.is_dir() and any(_find(src, k) is not None for k in PLACES)


def find_debian_files(src: str | Path, lang: str) -> DebianFiles:
    """The three files under ``src`` with their versions checked; a missing file, a missing
    locale or a too old version stops with one line naming it and the package to install."""
    src = Path(src)
    font, cldr, test = _find(src, "font"), _find(src, "cldr", lang), _find(src, "emoji-test.txt")
    missing = []
    if font is None:
        missing.append("NotoColorEmoji.ttf (fonts-noto-color-emoji)")
    if cldr is None:
        missing.append(f"annotations/{lang}.xml (unicode-cldr-core)")
    if test is None:
        missing.append("emoji-test.txt (unicode-data)")
    if missing:
        raise DataError(f"--src {src}: Debian route: {', '.join(missing)} not found; install with: {APT_LINE} "
                        "and pass --src /usr/share (or a folder holding those files)")
    if not (cldr / "annotationsDerived" / f"{lang}.xml").is_file():
        raise DataError(f"{cldr}/annotationsDerived/{lang}.xml: not found (unicode-cldr-core ships it next to annotations/)")
    font_version, tables = font_info(font)
    if "CBDT" not in tables:
        raise DataError(f"{font}: not a CBDT colour-bitmap font (tables: {', '.join(sorted(tables))}); "
                        "expected Noto Color Emoji from fonts-noto-color-emoji")
    fv = _numbers(font_version)
    if fv is None or fv < MIN_VERSIONS["font"]:
        raise DataError(f"{font}: font version {font_version!r}, expected {_dotted(MIN_VERSIONS['font'])} or newer "
                        f"(fonts-noto-color-emoji)")
    ev = emoji_test_version(test)
    if ev is None or _numbers(ev) < MIN_VERSIONS["emoji-test.txt"]:
        raise DataError(f"{test}: emoji-test.txt version {ev or 'missing'}, expected "
                        f"{_dotted(MIN_VERSIONS['emoji-test.txt'])} or newer (unicode-data)")
    cv = cldr_version(cldr)
    if cv is not None and (_numbers(cv) or (0,))[0] < MIN_VERSIONS["cldr"]:
        raise DataError(f"{cldr}: CLDR version {cv}, expected {MIN_VERSIONS['cldr']} or newer (unicode-cldr-core)")
    return DebianFiles(font=font, cldr=cldr, emoji_test=test,
                       versions={"fonts-noto-color-emoji": font_version.split(";")[0].replace("Version", "").strip(),
                                 "unicode-cldr-core": cv, "unicode-data": ev})


def _numbers(text: str | None) -> tuple[int, ...] | None:
    m = re.search(r"(\d+)(?:\.(\d+))?", text or "")
    return None if m is None else (int(m.group(1)), int(m.group(2) or 0))


def _dotted(v) -> str:
    return ".".join(str(x) for x in v) if isinstance(v, tuple) else str(v)


def _read(path: Path) -> bytes:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise DataError(f"{path}: larger than {MAX_FILE_BYTES} bytes; not a file of the Debian emoji packages")
    return path.read_bytes()


# ---------------------------------------------------------------------------- font
def font_info(path: Path) -> tuple[str, set[str]]:
    """``(version string, table tags)`` of a TrueType/OpenType file (name ID 5)."""
    data = _read(path)
    try:
        n_tables = struct.unpack(">H", data[4:6])[0]
        tables = {}
        for k in range(n_tables):
            tag, _, off, length = struct.unpack(">4sIII", data[12 + 16 * k: 28 + 16 * k])
            tables[tag.decode("latin-1")] = (off, length)
        off, _ = tables["name"]
        _, count, string_off = struct.unpack(">HHH", data[off:off + 6])
        version = ""
        for k in range(count):
            pid, eid, _, nid, length, o = struct.unpack(">HHHHHH", data[off + 6 + 12 * k: off + 18 + 12 * k])
            if nid != 5:
                continue
            raw = data[off + string_off + o: off + string_off + o + length]
            version = raw.decode("utf-16-be") if pid in (0, 3) else raw.decode("latin-1")
            if version:
                break
    except (struct.error, KeyError, UnicodeDecodeError):
        raise DataError(f"{path}: not a readable TrueType font (no name table)") from None
    return version, set(tables)


class NotoArtwork:
    """Draws emoji from the Noto Color Emoji font: 64×64 RGBA, the 136×128 glyph centred on a
    136×136 transparent square and resized with Lanczos filtering."""

    def __init__(self, font: Path):
        from PIL import ImageFont

        self.where = font
        try:
            self.font = ImageFont.truetype(str(font), FONT_SIZE)
        except OSError as e:
            raise DataError(f"{font}: Pillow cannot open it at size {FONT_SIZE} ({e}); expected Noto Color Emoji "
                            "(a CBDT font; Pillow needs FreeType with PNG support)") from None
        self.advance = float(self.font.getlength("\U0001F600"))

    def draws(self, text: str) -> bool:
        """Whether the font draws ``text`` as one glyph (not a missing glyph, not several)."""
        bbox = self.font.getbbox(text)
        return bbox[3] > bbox[1] and 0 < self.font.getlength(text) <= 1.5 * self.advance

    def rgba(self, text: str, size: int = 64) -> np.ndarray:
        from PIL import Image, ImageDraw

        x0, y0, x1, y1 = self.font.getbbox(text)
        side = max(x1 - x0, y1 - y0, 1)
        canvas = Image.new("RGBA", (side, side), (0, 0, 0, 0))
        ImageDraw.Draw(canvas).text(((side - (x1 - x0)) // 2 - x0, (side - (y1 - y0)) // 2 - y0), text,
                                    font=self.font, embedded_color=True)
        return np.asarray(canvas.resize((size, size), Image.LANCZOS), dtype=np.uint8).copy()


# ---------------------------------------------------------------------------- emoji-test.txt
def emoji_test_version(path: Path) -> str | None:
    for line in _read(path).decode("utf-8", errors="replace").splitlines()[:40]:
        m = re.match(r"#\s*Version:\s*([\d.]+)", line)
        if m:
            return m.group(1)
    return None


def _slug(name: str) -> str:
    """'Smileys & Emotion' → 'smileys-emotion', 'sky & weather' → 'sky-weather': emojibase's names."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def read_emoji_test(path: Path) -> list[dict]:
    """The fully-qualified emoji in file (CLDR) order: ``{"text", "hexcode", "group", "subgroup"}``;
    ``hexcode`` lower-case code points joined by ``-`` (with FE0F where the file has it)."""
    try:
        lines = _read(path).decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None
    group = subgroup = None
    rows = []
    for k, line in enumerate(lines, 1):
        if line.startswith("# group:"):
            group = _slug(line.split(":", 1)[1].strip())
        elif line.startswith("# subgroup:"):
            subgroup = _slug(line.split(":", 1)[1].strip())  # 'sky & weather' → 'sky-weather', as emojibase
        elif line and not line.startswith("#"):
            head = line.split("#", 1)[0]
            if ";" not in head:
                raise DataError(f"{path}:{k}: expected 'code points ; status # …'")
            cps, status = (s.strip() for s in head.split(";", 1))
            if status != "fully-qualified":
                continue
            if group is None or subgroup is None:
                raise DataError(f"{path}:{k}: emoji before any '# group:' / '# subgroup:' line")
            try:
                text = "".join(chr(int(c, 16)) for c in cps.split())
            except ValueError:
                raise DataError(f"{path}:{k}: {cps!r} is not a list of hexadecimal code points") from None
            rows.append({"text": text, "hexcode": "-".join(c.lower() for c in cps.split()), "group": group,
                         "subgroup": subgroup})
    if not rows:
        raise DataError(f"{path}: no fully-qualified emoji lines; not an emoji-test.txt")
    return rows


# ---------------------------------------------------------------------------- CLDR
def cldr_version(cldr: Path) -> str | None:
    dtd = cldr / "dtd" / "ldml.dtd"
    if not dtd.is_file():
        return None
    m = re.search(r'cldrVersion\s+CDATA\s+#FIXED\s+"([\d.]+)"', _read(dtd).decode("utf-8", errors="replace"))
    return m.group(1) if m else None


def read_annotations(cldr: Path, lang: str) -> dict[str, dict]:
    """``{norm_hex key: {"name": tts name, "tags": [keywords]}}`` from ``annotations/<lang>.xml``
    and ``annotationsDerived/<lang>.xml`` (the derived file adds skin-tone variants, flags,
    keycaps and other sequences)."""
    from .emoji import norm_hex

    out: dict[str, dict] = {}
    for sub in ("annotations", "annotationsDerived"):
        path = cldr / sub / f"{lang}.xml"
        try:
            root = ET.fromstring(_read(path))
        except ET.ParseError as e:
            raise DataError(f"{path}: not valid XML ({e})") from None
        if root.tag != "ldml":
            raise DataError(f"{path}: expected an <ldml> CLDR file, found <{root.tag}>")
        for a in root.iter("annotation"):
            cp, text = a.get("cp"), (a.text or "").strip()
            if not cp or not text:
                continue
            key = norm_hex("-".join(f"{ord(ch):04X}" for ch in cp))
            rec = out.setdefault(key, {"name": None, "tags": []})
            if a.get("type") == "tts":
                rec["name"] = text
            else:
                rec["tags"] = [t.strip() for t in text.split("|") if t.strip()]
    return out
