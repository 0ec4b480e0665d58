"""Single-icon emoji dataset from the npm emoji packages (see :mod:`crossmedia.data.emoji`).

One item per emoji and artwork style: the 64×64 artwork flattened on white, the CLDR name as
caption, the CLDR name and keywords as tags, one label (the emoji's ``subgroup``, 98 classes, or its
``group``, 9 classes, with ``--label-level group``); both levels are kept in every item
(``subgroup``, ``group``) with the ``hexcode``, the English name and the ``style``.

Protocols: ``default`` — seeded random split of the primary-style items (10 % query, 50 % of
them train, 5 % val, the rest of the retrieval set untouched); with two styles also
``cross-style`` — train and val on the first style's artwork, query and retrieval on the second
style's artwork of the other emoji (no emoji of the query/retrieval side is trained on).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import DataError
from .. import emoji as E
from . import register_preparer
from .base import ImageArray, PrepareOptions, Prepared, carve, fixed_protocol, random_protocol

LABEL_LEVELS = ("subgroup", "group")


def parse_styles(text: str | None, src: Path | None = None) -> tuple[str, ...]:
    """``--styles`` as a tuple; empty: the default style of ``src``'s route (google or noto)."""
    if not text:
        return E.default_styles(src) if src is not None else E.NPM_STYLES[:1]
    styles = tuple(s.strip() for s in str(text).split(",") if s.strip())
    bad = [s for s in styles if s not in E.STYLES]
    if bad or not styles or len(set(styles)) != len(styles):
        raise DataError(f"--styles {text!r}: expected distinct names among {', '.join(E.STYLES)}")
    return styles


@register_preparer("emoji", "single emoji icons: emoji artwork + CLDR names/keywords, subgroup labels (npm or Debian packages)",
                   "folder with the npm packages (unpacked or .tgz: " + E.npm_pack_line() + ") or the Debian files "
                   "(--src /usr/share after: apt-get install fonts-noto-color-emoji unicode-cldr-core unicode-data)")
def prepare_emoji(src: Path, opts: PrepareOptions) -> Prepared:
    lang = opts.lang or "en"
    level = opts.label_level or "subgroup"
    if level not in LABEL_LEVELS:
        raise DataError(f"--label-level {level!r}: expected subgroup or group")
    styles = parse_styles(opts.styles, src)
    cat = E.load_catalogue(src, lang=lang, styles=styles, skin_tones=opts.skin_tones)
    names = cat.subgroups if level == "subgroup" else cat.groups
    col = {n: j for j, n in enumerate(names)}
    items = []
    for style in styles:
        for e in cat.emojis:
            items.append({"id": f"{style}/{e.hexcode}", "caption": e.name, "tags": e.keywords,
                          "labels": [col[e.subgroup if level == "subgroup" else e.group]],
                          "hexcode": e.hexcode, "name_en": e.name_en, "subgroup": e.subgroup, "group": e.group,
                          "style": style, **({"tone": e.tone} if e.tone else {})})

    def iterate():
        for style in styles:
            for s in range(0, len(cat.emojis), 256):
                chunk = cat.emojis[s:s + 256]
                yield np.stack([E.flatten(cat.icon_rgba(e, style)) for e in chunk])

    versions = {k: v["version"] for k, v in cat.packages.items()}
    prep = Prepared(
        name=f"emoji-icons-{lang}", items=items, label_names=list(names), images=ImageArray(iterate, str(src)),
        text_field="tags", labels_required=True,
        description=(f"{len(cat.emojis)} emoji ({', '.join(styles)} artwork, 64x64 on white) with CLDR names (caption) and "
                     f"keywords (tags) in {lang!r}; labels: {level} ({len(names)}); component group dropped; skin tones "
                     f"{'included' if opts.skin_tones else 'excluded'}. Packages ({cat.route} route): "
                     + ", ".join(f"{k}@{v}" for k, v in versions.items())),
        source={"format": "npm emoji packages" if cat.route == "npm" else "Debian emoji files", "route": cat.route,
                "packages": versions, "lang": lang, "styles": list(styles), "label_level": level,
                "skin_tones": bool(opts.skin_tones), "join": "hexcode without FE0F", "dropped": cat.dropped},
    )
    n_icons = len(cat.emojis)
    if n_icons < 20:
        raise DataError(f"{src}: only {n_icons} emoji after the join; need at least 20")
    primary = np.arange(n_icons)
    nq, nt, nv = max(1, n_icons // 10), n_icons // 2, max(1, n_icons // 20)
    if len(styles) == 1:
        p = random_protocol(prep, n_query=nq, n_train=nt, n_val=nv, seed=opts.seed, user_n_val=opts.n_val)
    else:  # the random split runs over the primary style only
        nv = int(opts.n_val) if opts.n_val is not None else nv
        rng = np.random.default_rng([opts.seed, 1])
        perm = rng.permutation(n_icons)
        query = np.sort(perm[:nq])
        rest = perm[nq:]
        train, val = np.sort(rest[:nt]), np.sort(rest[nt:nt + nv])
        p = fixed_protocol(prep, "default", {"train": train, "val": val, "query": query, "retrieval": np.sort(rest)},
                           f"seeded permutation (numpy default_rng([{opts.seed}, 1])) of the {styles[0]} items: {nq} query held "
                           f"out, the other {len(rest)} form the retrieval set, of which {nt} train and {nv} val",
                           seed=opts.seed)
        # cross-style: train/val on the first style; query/retrieval on the second style's artwork of other emoji
        other = n_icons + primary
        held = np.sort(perm[:n_icons // 2])
        trainable = np.sort(perm[n_icons // 2:])
        tr, va = carve(trainable, max(1, len(trainable) // 10), opts.seed, salt=2)
        rest2, q = carve(other[held], max(1, len(held) // 5), opts.seed, salt=3)
        prep.protocols.append(fixed_protocol(
            prep, "cross-style", {"train": tr, "val": va, "query": q, "retrieval": rest2},
            f"train/val: {styles[0]} artwork of half of the emoji (seeded); query/retrieval: {styles[1]} artwork of the other "
            f"half (20 % query, held out), so no emoji of the query/retrieval side is trained on", seed=opts.seed))
    prep.protocols.insert(0, p)
    return prep
