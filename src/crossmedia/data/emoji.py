"""The emoji catalogue: artwork from the npm ``emoji-datasource-<style>`` packages joined on
hexcode with the CLDR names, keywords, groups and subgroups of ``emojibase-data``.

Packages are read unpacked (a folder holding ``package/package.json``, as ``tar xzf`` of an
``npm pack`` tarball leaves it) or packed (the ``.tgz`` itself), from one ``--src`` folder::

    npm pack emoji-datasource-google@16.0.0 emoji-datasource-twitter@16.0.0 emojibase-data@17.0.0

The versions are checked: the join and the counts in the docs are those of
:data:`PACKAGE_VERSIONS`; another version is refused with a one-line error naming the package,
the version found and the ``npm pack`` line to run.

A second, npm-free route reads the files of the Debian packages ``fonts-noto-color-emoji``,
``unicode-cldr-core`` and ``unicode-data`` (:mod:`crossmedia.data.emoji_debian`; artwork style
``noto``); :func:`detect_route` tells the two apart.

Join rule: the datasource's ``unified`` code point sequence and emojibase's ``hexcode`` are
compared upper-case with every ``FE0F`` (emoji presentation selector) removed, since the two
packages disagree about it for 245 emoji. Items of emojibase's ``component`` group (skin-tone
and hair-style modifiers) are dropped; skin-tone variants are left out unless asked for.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import DataError

PACKAGE_VERSIONS: dict[str, str] = {
    "emoji-datasource-google": "16.0.0",
    "emoji-datasource-twitter": "16.0.0",
    "emojibase-data": "17.0.0",
}
STYLES = ("google", "twitter", "noto")
NPM_STYLES = ("google", "twitter")
DEBIAN_STYLES = ("noto",)
LANGS = ("en", "zh", "ja", "de", "fr", "es")
DROPPED_GROUPS = ("component",)
ICON_SIZE = 64
MAX_MEMBER_BYTES = 32 * 1024 * 1024  # no single file of the packages is larger (emoji_pretty.json 2.2 MB)
MAX_PACKAGE_FILES = 20_000


def npm_pack_line(names=None) -> str:
    names = names or list(PACKAGE_VERSIONS)
    return "npm pack " + " ".join(f"{n}@{PACKAGE_VERSIONS[n]}" for n in names)


def norm_hex(code: str) -> str:
    """Upper-case code point sequence without FE0F: the join key of the two packages."""
    parts = [p for p in str(code).upper().replace("_", "-").split("-") if p and p != "FE0F"]
    return "-".join(parts)


# ---------------------------------------------------------------------------- package access
class Package:
    """Read-only access to one npm package, unpacked folder or ``.tgz``."""

    def __init__(self, name: str, where: Path, files: dict[str, bytes] | None = None):
        self.name = name
        self.where = where
        self._files = files  # packed: relative path → bytes (only the members we read)
        meta = json.loads(self.read("package.json"))
        self.version = str(meta.get("version"))
        if meta.get("name") != name:
            raise DataError(f"{where}: package.json names {meta.get('name')!r}, expected {name!r}")

    def read(self, rel: str) -> bytes:
        if self._files is not None:
            if rel not in self._files:
                raise DataError(f"{self.where}: member package/{rel} not found in the tarball")
            return self._files[rel]
        p = self.where / rel
        if not p.is_file():
            raise DataError(f"{p}: not found in package {self.name}")
        if p.stat().st_size > MAX_MEMBER_BYTES:
            raise DataError(f"{p}: larger than {MAX_MEMBER_BYTES} bytes; not a file of {self.name}")
        return p.read_bytes()

    def exists(self, rel: str) -> bool:
        return rel in self._files if self._files is not None else (self.where / rel).is_file()

    def json(self, rel: str):
        try:
            return json.loads(self.read(rel).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DataError(f"{self.where}/{rel}: not valid JSON ({e.__class__.__name__})") from None


def _read_tgz(path: Path, wanted) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:gz") as tf:
            for k, m in enumerate(tf):
                if k > MAX_PACKAGE_FILES:
                    raise DataError(f"{path}: more than {MAX_PACKAGE_FILES} members; not an emoji package tarball")
                if not m.isfile() or not m.name.startswith("package/"):
                    continue
                rel = m.name[len("package/"):]
                if not wanted(rel):
                    continue
                if m.size > MAX_MEMBER_BYTES:
                    raise DataError(f"{path}: member {m.name} is {m.size} bytes; larger than any file of the package")
                f = tf.extractfile(m)
                if f is not None:
                    files[rel] = f.read()
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable npm tarball ({e.__class__.__name__})") from None
    return files


def _wanted(name: str, styles: tuple[str, ...], langs: tuple[str, ...]):
    if name == "emojibase-data":
        keep = {"package.json", "meta/groups.json"} | {f"{lang}/data.json" for lang in langs}
        return lambda rel: rel in keep
    style = name.rsplit("-", 1)[-1]
    prefix = f"img/{style}/{ICON_SIZE}/"
    return lambda rel: rel in ("package.json", "emoji.json") or (style in styles and rel.startswith(prefix))


def _package_dir(src: Path, name: str) -> Path | None:
    """The folder under ``src`` (``src/<x>/package/``, ``src/<x>/`` or ``src`` itself) whose
    package.json names ``name``."""
    candidates = [src, src / "package"]
    if src.is_dir():
        for d in sorted(src.iterdir()):
            if d.is_dir():
                candidates += [d, d / "package"]
    for c in candidates:
        pj = c / "package.json"
        if pj.is_file():
            try:
                meta = json.loads(pj.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                continue
            if isinstance(meta, dict) and meta.get("name") == name:
                return c
    return None


def find_package(src: Path, name: str, styles=STYLES, langs=LANGS, required: bool = True) -> Package | None:
    """Package ``name`` under ``src``: a folder (``src/<x>/package/``, ``src/<x>/`` or ``src``
    itself) whose package.json names it, or ``src/<name>-<version>.tgz``. The version must be
    the one of :data:`PACKAGE_VERSIONS`."""
    src = Path(src)
    want = PACKAGE_VERSIONS[name]
    where = _package_dir(src, name)
    found: Package | None = Package(name, where) if where is not None else None
    if found is None and src.is_dir():
        tgz = sorted(src.glob(f"{name}-*.tgz"))
        exact = [t for t in tgz if t.name == f"{name}-{want}.tgz"]
        pick = (exact or tgz)[:1]
        if pick:
            found = Package(name, pick[0], files=_read_tgz(pick[0], _wanted(name, tuple(styles), tuple(langs))))
    if found is None:
        if required:
            raise DataError(f"{src}: package {name} not found (neither unpacked nor {name}-{want}.tgz); "
                            f"get it with: {npm_pack_line([name])}")
        return None
    if found.version != want:
        raise DataError(f"{found.where}: {name} is version {found.version}, expected {want}; "
                        f"get it with: {npm_pack_line([name])}")
    return found


# ---------------------------------------------------------------------------- catalogue
@dataclass
class Emoji:
    hexcode: str  # the datasource's file stem (lower-case unified), e.g. "1f600"
    key: str  # join key (norm_hex)
    name: str  # CLDR label in the chosen language
    name_en: str
    tags: list[str]  # CLDR keywords in the chosen language
    group: str
    subgroup: str
    tone: int | None = None  # skin tone 1..5 of a variant, None for the base emoji
    images: dict[str, str] = field(default_factory=dict)  # style → member path of the 64 px PNG

    @property
    def keywords(self) -> list[str]:
        """What users call it: the CLDR name, then the CLDR keywords (distinct, in that order).
        The name matters: CLDR keeps it out of the keywords (strawberry: "berry", "fruit")."""
        return list(dict.fromkeys([self.name] + list(self.tags)))


class Artwork(Protocol):
    """What a style's artwork source promises: the RGBA picture of an emoji from the reference
    stored in :attr:`Emoji.images` for that style, and where it comes from."""

    where: object

    def rgba(self, ref: str) -> np.ndarray: ...


class NpmArtwork:
    """64 px PNGs of an ``emoji-datasource-<style>`` package; ``ref`` is the member path."""

    def __init__(self, pkg: Package):
        self.pkg = pkg
        self.where = pkg.where

    def rgba(self, ref: str) -> np.ndarray:
        from PIL import Image

        try:
            with Image.open(io.BytesIO(self.pkg.read(ref))) as im:
                im = im.convert("RGBA")
                if im.size != (ICON_SIZE, ICON_SIZE):
                    im = im.resize((ICON_SIZE, ICON_SIZE), Image.BILINEAR)
                return np.asarray(im, dtype=np.uint8).copy()
        except (OSError, ValueError) as err:
            raise DataError(f"{self.where}/{ref}: not a decodable PNG ({err.__class__.__name__})") from None


@dataclass
class Catalogue:
    emojis: list[Emoji]
    lang: str
    styles: tuple[str, ...]
    packages: dict[str, dict]  # name → {"version", "where"}
    groups: list[str]
    subgroups: list[str]
    artwork: dict[str, Artwork] = field(default_factory=dict, repr=False)  # style → source
    route: str = "npm"  # "npm" or "debian"
    dropped: dict[str, int] = field(default_factory=dict)  # why → how many emoji were left out

    def icon_rgba(self, e: Emoji, style: str) -> np.ndarray:
        """(64, 64, 4) uint8 RGBA artwork."""
        return self.artwork[style].rgba(e.images[style])


def flatten(rgba: np.ndarray, background=(255, 255, 255)) -> np.ndarray:
    """RGBA → RGB over a plain background."""
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    rgb = rgba[..., :3].astype(np.float32) * a + np.asarray(background, np.float32) * (1 - a)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def detect_route(src: str | Path) -> str:
    """``"npm"`` when ``src`` holds any of the npm packages (unpacked or ``.tgz``), else
    ``"debian"`` when it holds any of the Debian files; otherwise one line naming both routes."""
    src = Path(src)
    if not src.exists():
        raise DataError(f"--src {src}: not found; get the npm packages with: {npm_pack_line()} "
                        f"(or the Debian route: {_apt_line()}, then --src /usr/share)")
    if src.is_dir():
        for name in PACKAGE_VERSIONS:
            if any(src.glob(f"{name}-*.tgz")) or _package_dir(src, name) is not None:
                return "npm"
    from .emoji_debian import has_debian_files

    if has_debian_files(src):
        return "debian"
    raise DataError(f"--src {src}: neither the npm emoji packages ({npm_pack_line()}) nor the Debian files "
                    f"(NotoColorEmoji.ttf, annotations/<lang>.xml, emoji-test.txt: {_apt_line()}) found")


def _apt_line() -> str:
    from .emoji_debian import APT_LINE

    return APT_LINE


def default_styles(src: str | Path) -> tuple[str, ...]:
    """The artwork style used when none is asked for: ``google`` (npm route) or ``noto`` (Debian)."""
    return NPM_STYLES[:1] if detect_route(src) == "npm" else DEBIAN_STYLES


def load_catalogue(src: str | Path, lang: str = "en", styles=None, skin_tones: bool = False) -> Catalogue:
    """Read and join the packages under ``src`` (npm or Debian route, :func:`detect_route`).
    ``styles``: artwork styles to use (the first is the primary one; every emoji kept has
    artwork in each); ``None``: the route's default (:func:`default_styles`)."""
    src = Path(src)
    route = detect_route(src)
    if lang not in LANGS:
        raise DataError(f"--lang {lang!r}: expected one of {', '.join(LANGS)}")
    styles = tuple(styles) if styles else default_styles(src)
    allowed = NPM_STYLES if route == "npm" else DEBIAN_STYLES
    bad = [s for s in styles if s not in allowed]
    if bad or not styles:
        other = ("the Debian route (fonts-noto-color-emoji)" if route == "npm" else f"the npm packages ({npm_pack_line()})")
        raise DataError(f"--styles {','.join(styles)}: {src} is the {route} route, whose styles are {', '.join(allowed)}"
                        + (f"; {', '.join(bad)} needs {other}" if bad and all(b in STYLES for b in bad) else ""))
    if route == "debian":
        return _load_debian(src, lang, skin_tones)
    base = find_package(src, "emojibase-data", styles, (lang, "en"))
    arts = {s: find_package(src, f"emoji-datasource-{s}", styles, (lang,)) for s in styles}
    groups_meta = base.json("meta/groups.json")
    try:
        gnames = {int(k): str(v) for k, v in groups_meta["groups"].items()}
        sgnames = {int(k): str(v) for k, v in groups_meta["subgroups"].items()}
    except (KeyError, TypeError, ValueError, AttributeError):
        raise DataError(f"{base.where}/meta/groups.json: expected 'groups' and 'subgroups' maps of index → name") from None
    loc = _index(base, lang)
    en = loc if lang == "en" else _index(base, "en")
    primary = styles[0]
    rows = _datasource_rows(arts[primary], primary)
    others = {s: {r["key"]: r for r in _datasource_rows(arts[s], s)} for s in styles[1:]}
    emojis: list[Emoji] = []
    for r in rows:
        variants = [(r, None)] + ([(v, v["tone"]) for v in r["skins"]] if skin_tones else [])
        for v, tone in variants:
            parent = loc.get(r["key"])
            if parent is None or "group" not in parent or "subgroup" not in parent:
                continue
            b = loc.get(v["key"]) or parent
            g = gnames.get(int(parent.get("group", -1)))
            sg = sgnames.get(int(parent.get("subgroup", -1)))
            if g is None or sg is None or g in DROPPED_GROUPS:
                continue
            images = {primary: v["image"]}
            ok = arts[primary].exists(v["image"])
            for s in styles[1:]:
                o = others[s].get(v["key"]) if tone is None else _find_skin(others[s].get(r["key"]), v["key"])
                if o is None or not arts[s].exists(o["image"]):
                    ok = False
                    break
                images[s] = o["image"]
            if not ok:
                continue
            tags = [str(t) for t in (b.get("tags") or parent.get("tags") or [])]
            name_en = str((en.get(v["key"]) or en.get(r["key"]) or {}).get("label", b.get("label", "")))
            emojis.append(Emoji(hexcode=v["stem"], key=v["key"], name=str(b.get("label", "")), name_en=name_en,
                                tags=tags, group=g, subgroup=sg, tone=tone, images=images))
    if not emojis:
        raise DataError(f"{src}: the packages joined to no emoji (hexcodes of {', '.join(arts)} artwork vs emojibase-data)")
    used_groups = sorted({e.group for e in emojis}, key=lambda n: _order(gnames, n))
    used_sub = sorted({e.subgroup for e in emojis}, key=lambda n: _order(sgnames, n))
    packages = {p.name: {"version": p.version, "where": str(p.where)} for p in [base, *arts.values()]}
    return Catalogue(emojis=emojis, lang=lang, styles=styles, packages=packages, groups=used_groups,
                     subgroups=used_sub, artwork={s: NpmArtwork(arts[s]) for s in styles}, route="npm")


def _load_debian(src: Path, lang: str, skin_tones: bool) -> Catalogue:
    """The catalogue from the Debian files (:mod:`crossmedia.data.emoji_debian`): emoji, order,
    groups and subgroups from emoji-test.txt; names and keywords from CLDR; artwork ``noto``."""
    from . import emoji_debian as D

    files = D.find_debian_files(src, lang)
    if lang != "en":
        D.find_debian_files(src, "en")  # the English names are kept too
    art = D.NotoArtwork(files.font)
    rows = D.read_emoji_test(files.emoji_test)
    loc = D.read_annotations(files.cldr, lang)
    en = loc if lang == "en" else D.read_annotations(files.cldr, "en")
    base_of: dict[str, dict] = {}
    emojis: list[Emoji] = []
    dropped = {"component group": 0, "mixed or extra skin tones": 0, "no CLDR name": 0, "not drawn by the font": 0}
    for r in rows:
        key = norm_hex(r["hexcode"])
        if r["group"] in DROPPED_GROUPS:
            dropped["component group"] += 1
            continue
        parts = key.split("-")
        tone, base_key = None, key
        if any(p in _TONES for p in parts):
            tone = _tone(key)
            base_key = "-".join(p for p in parts if p not in _TONES)
            if tone is None or base_key not in base_of:  # mixed tones (two people), or a base left out
                dropped["mixed or extra skin tones"] += 1
                continue
            if not skin_tones:
                continue
        rec = loc.get(key)
        if rec is None or not rec.get("name"):
            dropped["no CLDR name"] += 1
            continue
        if not art.draws(r["text"]):
            dropped["not drawn by the font"] += 1
            continue
        name_en = (en.get(key) or {}).get("name") or rec["name"]
        e = Emoji(hexcode=r["hexcode"], key=key, name=rec["name"], name_en=name_en, tags=list(rec.get("tags") or []),
                  group=r["group"], subgroup=r["subgroup"], tone=tone, images={"noto": r["text"]})
        if tone is None:
            base_of[key] = {"group": r["group"], "subgroup": r["subgroup"]}
        else:  # a variant shares its base emoji's subgroup, as in the npm route
            b = base_of[base_key]
            e.group, e.subgroup = b["group"], b["subgroup"]
        emojis.append(e)
    if not emojis:
        raise DataError(f"{files.emoji_test}: no emoji joined with {files.cldr}/annotations/{lang}.xml and drawn by {files.font}")
    groups = list(dict.fromkeys(e.group for e in emojis))
    subgroups = list(dict.fromkeys(r["subgroup"] for r in rows if r["subgroup"] in {e.subgroup for e in emojis}))
    packages = {"fonts-noto-color-emoji": {"version": files.versions["fonts-noto-color-emoji"], "where": str(files.font)},
                "unicode-cldr-core": {"version": files.versions["unicode-cldr-core"], "where": str(files.cldr)},
                "unicode-data": {"version": files.versions["unicode-data"], "where": str(files.emoji_test)}}
    return Catalogue(emojis=emojis, lang=lang, styles=DEBIAN_STYLES, packages=packages, groups=groups,
                     subgroups=subgroups, artwork={"noto": art}, route="debian",
                     dropped={k: v for k, v in dropped.items() if v})


def _order(names: dict[int, str], n: str) -> int:
    return next(k for k, v in names.items() if v == n)


def _index(base: Package, lang: str) -> dict[str, dict]:
    data = base.json(f"{lang}/data.json")
    if not isinstance(data, list):
        raise DataError(f"{base.where}/{lang}/data.json: expected a list of emoji records")
    out: dict[str, dict] = {}
    for k, rec in enumerate(data):
        if not isinstance(rec, dict) or "hexcode" not in rec:
            raise DataError(f"{base.where}/{lang}/data.json: record {k} has no 'hexcode'")
        out[norm_hex(rec["hexcode"])] = rec
        for s in rec.get("skins") or []:
            if isinstance(s, dict) and "hexcode" in s:
                out[norm_hex(s["hexcode"])] = s
    return out


def _datasource_rows(pkg: Package, style: str) -> list[dict]:
    data = pkg.json("emoji.json")
    if not isinstance(data, list):
        raise DataError(f"{pkg.where}/emoji.json: expected a list of emoji records")
    rows = []
    flag = f"has_img_{style}"
    for k, rec in enumerate(data):
        if not isinstance(rec, dict) or "unified" not in rec or "image" not in rec:
            raise DataError(f"{pkg.where}/emoji.json: record {k} lacks 'unified' or 'image'")
        if not rec.get(flag, True):
            continue
        skins = []
        for sv in (rec.get("skin_variations") or {}).values():
            if isinstance(sv, dict) and sv.get(flag, True) and "unified" in sv and "image" in sv:
                tone = _tone(sv["unified"])
                if tone is not None:
                    skins.append({"key": norm_hex(sv["unified"]), "image": f"img/{style}/{ICON_SIZE}/{sv['image']}",
                                  "stem": Path(sv["image"]).stem, "tone": tone})
        rows.append({"key": norm_hex(rec["unified"]), "image": f"img/{style}/{ICON_SIZE}/{rec['image']}",
                     "stem": Path(str(rec["image"])).stem, "skins": skins,
                     "sort": int(rec.get("sort_order", k))})
    rows.sort(key=lambda r: (r["sort"], r["key"]))
    return rows


_TONES = {"1F3FB": 1, "1F3FC": 2, "1F3FD": 3, "1F3FE": 4, "1F3FF": 5}


def _tone(unified: str) -> int | None:
    """Single-tone variants only (mixed-tone pairs, e.g. two people, are left out)."""
    tones = [_TONES[p] for p in norm_hex(unified).split("-") if p in _TONES]
    return tones[0] if tones and len(set(tones)) == 1 else None


def _find_skin(row: dict | None, key: str) -> dict | None:
    if row is None:
        return None
    return next((s for s in row["skins"] if s["key"] == key), None)
