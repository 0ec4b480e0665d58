"""Protocols: named, versioned splits of a dataset's items, stored as data.

A protocol assigns item indices to ``train``, ``val``, ``query`` and ``retrieval``. It records
the seed and the rule that made it, so a result can name exactly what it was computed on
(DATASETS.md, "One dataset model"). :meth:`Protocol.validate` checks it on load: indices in
range and unique, query disjoint from train (and from retrieval unless the rule says the test
set is both), val disjoint from train and query, counts as recorded, and label coverage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..io import write_json

SPLITS = ("train", "val", "query", "retrieval")

#: model-selection rules (``train.val_rule``): what the ``val`` queries are ranked against
VAL_RULES = ("heldout", "train_database")
#: which of the retrieval items a test evaluation ranks (``crossmedia eval --database``)
DATABASE_VIEWS = ("retrieval", "unseen", "train")
PROTOCOL_FORMAT = "crossmedia-protocol"
PROTOCOL_FORMAT_VERSION = 1


def check_database_view(view: str) -> None:
    """A one-line :class:`DataError` unless ``view`` is one of :data:`DATABASE_VIEWS`."""
    if view not in DATABASE_VIEWS:
        raise DataError(f"--database: expected one of {', '.join(DATABASE_VIEWS)}, got {view!r}")


@dataclass
class Protocol:
    """A split of ``n_items`` items. ``train`` and ``val`` are carved from the retrieval side;
    ``query`` is held out (or, with ``query_in_retrieval``, doubles as the database)."""

    name: str
    n_items: int
    splits: dict[str, np.ndarray]
    seed: int | None = None
    rule: str = ""
    version: int = 1
    dataset: str = ""
    query_in_retrieval: bool = False
    extra: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.splits = {k: np.asarray(v, dtype=np.int64).reshape(-1) for k, v in self.splits.items()}

    def __getitem__(self, split: str) -> np.ndarray:
        if split not in self.splits:
            raise DataError(f"protocol {self.name!r}: no split {split!r} (has {sorted(self.splits)})")
        return self.splits[split]

    @property
    def counts(self) -> dict[str, int]:
        return {k: int(len(v)) for k, v in self.splits.items()}

    # ------------------------------------------------------------------ making
    @classmethod
    def random(
        cls,
        n_items: int,
        *,
        n_query: int,
        n_train: int,
        n_val: int,
        seed: int,
        name: str = "default",
        dataset: str = "",
        labels: np.ndarray | None = None,
    ) -> "Protocol":
        """Seeded random split: ``n_query`` queries held out, the rest is the retrieval set, of
        which ``n_train`` train and ``n_val`` val (disjoint). Items without any label are never
        chosen as queries when ``labels`` is given (they would have no relevant item)."""
        for key, v in (("n_query", n_query), ("n_train", n_train), ("n_val", n_val)):
            if v < 0:
                raise DataError(f"protocol: {key} must be >= 0, got {v}")
        if n_query + n_train + n_val > n_items:
            raise DataError(
                f"protocol: n_query + n_train + n_val = {n_query + n_train + n_val} exceeds the {n_items} items"
            )
        rng = np.random.default_rng(seed)
        perm = rng.permutation(n_items)
        if labels is not None:
            has_label = np.asarray(labels).reshape(n_items, -1).sum(1) > 0
            perm = np.concatenate([perm[has_label[perm]], perm[~has_label[perm]]])
        query = np.sort(perm[:n_query])
        rest = perm[n_query:]
        rest = rest[rng.permutation(len(rest))]
        train = np.sort(rest[:n_train])
        val = np.sort(rest[n_train : n_train + n_val])
        retrieval = np.sort(rest)
        rule = (
            f"seeded permutation (numpy default_rng({seed})): {n_query} query held out"
            f"{' (labelled items first)' if labels is not None else ''}; the remaining {len(rest)} form the"
            f" retrieval set, of which {n_train} train and {n_val} val, disjoint"
        )
        return cls(
            name=name, n_items=n_items, seed=seed, rule=rule, dataset=dataset,
            splits={"train": train, "val": val, "query": query, "retrieval": retrieval},
        )

    # ------------------------------------------------------------------ test database
    def test_database(self, view: str = "retrieval") -> np.ndarray:
        """The database a test evaluation ranks, sorted item indices.

        ``retrieval`` (the protocol's test): the whole retrieval set. On protocols made like
        DCMH's (MIRFlickr, NUS-WIDE, the scenes), it holds the ``train`` and ``val`` items too.
        ``unseen``: the retrieval items outside ``train`` and ``val``, which no training step and
        no checkpoint choice has seen — what a collection indexed after training looks like.
        ``train``: the retrieval items the model trained on. An empty view is a
        :class:`DataError` naming the protocol."""
        check_database_view(view)
        retrieval = self["retrieval"]
        if view == "retrieval":
            return retrieval
        train = self.splits.get("train", np.zeros(0, dtype=np.int64))
        if view == "train":
            out = np.intersect1d(retrieval, train)
        else:
            seen = np.union1d(train, self.splits.get("val", np.zeros(0, dtype=np.int64)))
            out = np.setdiff1d(retrieval, seen)
        if len(out) == 0:
            what = "no training item" if view == "train" else "only training and val items"
            raise DataError(f"--database {view}: protocol {self.name!r} has {what} in its retrieval set; "
                            f"use --database retrieval")
        return out.astype(np.int64)

    def test_database_text(self, view: str = "retrieval") -> str:
        """One line saying what ``view``'s database holds, with its size."""
        n = len(self.test_database(view))
        if view == "retrieval":
            return f"the protocol's retrieval set ({n} items)"
        if view == "train":
            return f"the retrieval items the model trained on ({n} of {len(self['retrieval'])})"
        return (f"the retrieval items outside train and val, never seen in training or model selection "
                f"({n} of {len(self['retrieval'])})")

    # ------------------------------------------------------------------ model selection
    def validation_folds(self, rule: str = "heldout") -> list[tuple[np.ndarray, np.ndarray]]:
        """(query indices, database indices) pairs on which a model is selected.

        ``heldout`` (the default): the database is held out from training, like the ``unseen``
        view of the test database (:meth:`test_database`; the protocol's whole retrieval set may
        hold the training items, as DCMH's protocols do). When the test queries double as the
        retrieval set (``query_in_retrieval``, e.g. Wikipedia's 693 test pairs), the ``val``
        items are both the queries and the database, as the test pairs are. Otherwise the test
        queries are disjoint from the database, so the ``val`` items are split in two halves by
        a seeded permutation (numpy ``default_rng([seed, 20])``) and each half's queries are
        ranked against the other half: every val item is a query once and no query's own pair
        is in its database. No fold ever contains a training item.

        ``train_database`` (the rule before; kept only to reproduce old results): the ``val``
        queries against the ``train`` items — a model that memorises the training items scores
        well on it."""
        val = self["val"]
        if rule == "train_database":
            return [(val, self["train"])]
        if rule != "heldout":
            raise DataError(f"train.val_rule: expected one of {', '.join(VAL_RULES)}, got {rule!r}")
        if self.query_in_retrieval or len(val) < 2:
            return [(val, val)]
        perm = np.random.default_rng([int(self.seed or 0), 20]).permutation(len(val))
        a, b = np.sort(val[perm[: len(val) // 2]]), np.sort(val[perm[len(val) // 2:]])
        return [(a, b), (b, a)]

    def validation_rule_text(self, rule: str = "heldout") -> str:
        """One line saying how a run on this protocol is selected under ``rule``."""
        n = len(self.splits.get("val", ()))
        if rule == "train_database":
            return (f"val_rule=train_database: the {n} val queries against the {len(self['train'])} train items "
                    "(rewards memorising the training items; kept to reproduce old results)")
        if self.query_in_retrieval or n < 2:
            return (f"val_rule=heldout: the {n} val items as queries against the same {n} val items (held out from "
                    "training; the test protocol's query set doubles as its database too)")
        return (f"val_rule=heldout: the {n} val items split in two seeded halves, each half's queries against the "
                "other half (held out from training; no query's own pair in its database, as in the test protocol)")

    # ------------------------------------------------------------------ checking
    def validate(self, labels: np.ndarray | None = None, source: str | None = None) -> list[str]:
        """Raise :class:`DataError` naming the protocol file and the first problem found.

        Label coverage is not fatal (small or long-tailed datasets have rare labels): labels
        that occur in ``query`` but never in ``train`` are returned as warnings, kept in
        ``self.warnings`` and recorded with every result computed on this protocol."""
        where = source or f"protocol {self.name!r}"
        warnings: list[str] = []
        missing = [s for s in SPLITS if s not in self.splits]
        if missing:
            raise DataError(f"{where}: missing split(s) {missing}; expected {list(SPLITS)}")
        sets = {}
        for split, idx in self.splits.items():
            if len(idx) and (idx.min() < 0 or idx.max() >= self.n_items):
                raise DataError(f"{where}: split {split!r} has indices outside 0..{self.n_items - 1}")
            if len(np.unique(idx)) != len(idx):
                raise DataError(f"{where}: split {split!r} lists an item more than once")
            sets[split] = idx
        if len(sets["query"]) == 0:
            raise DataError(f"{where}: split 'query' is empty")
        if len(sets["retrieval"]) == 0:
            raise DataError(f"{where}: split 'retrieval' is empty")
        if len(sets["train"]) == 0:
            raise DataError(f"{where}: split 'train' is empty")

        def overlap(a: str, b: str) -> int:
            return int(np.intersect1d(sets[a], sets[b], assume_unique=True).size)

        for a, b in (("query", "train"), ("val", "train"), ("val", "query")):
            n = overlap(a, b)
            if n:
                raise DataError(f"{where}: {n} item(s) are in both {a!r} and {b!r}; they must be disjoint")
        n = overlap("query", "retrieval")
        if self.query_in_retrieval:
            if n != len(sets["query"]):
                raise DataError(f"{where}: query_in_retrieval is set but {len(sets['query']) - n} query item(s) are not in 'retrieval'")
        elif n:
            raise DataError(
                f"{where}: {n} item(s) are in both 'query' and 'retrieval' (set query_in_retrieval if the test set doubles as the database)"
            )
        recorded = self.extra.get("counts")
        if recorded is not None:
            for split, count in recorded.items():
                if split in sets and len(sets[split]) != int(count):
                    raise DataError(
                        f"{where}: split {split!r} has {len(sets[split])} items but the file records counts.{split} = {count}"
                    )
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape[0] != self.n_items:
                raise DataError(f"{where}: made for {self.n_items} items but the dataset has {labels.shape[0]}")
            in_train = labels[sets["train"]].sum(0) > 0
            in_query = labels[sets["query"]].sum(0) > 0
            uncovered = np.flatnonzero(in_query & ~in_train)
            n_unlabelled = int((labels[sets["query"]].sum(1) == 0).sum())
            if uncovered.size:
                warnings.append(
                    f"{uncovered.size} label(s) occur in 'query' but never in 'train' (first: label {int(uncovered[0])})"
                )
            if n_unlabelled:
                warnings.append(f"{n_unlabelled} query item(s) have no label (no relevant item; see empty_query policy)")
        self.warnings = warnings
        return warnings

    def summary(self) -> dict:
        return {"name": self.name, "version": self.version, "seed": self.seed, "rule": self.rule,
                "counts": self.counts, "query_in_retrieval": self.query_in_retrieval,
                "warnings": list(self.warnings)}

    # ------------------------------------------------------------------ storage
    def to_dict(self) -> dict:
        return {
            "format": PROTOCOL_FORMAT,
            "format_version": PROTOCOL_FORMAT_VERSION,
            "name": self.name,
            "version": self.version,
            "dataset": self.dataset,
            "n_items": self.n_items,
            "seed": self.seed,
            "rule": self.rule,
            "query_in_retrieval": self.query_in_retrieval,
            "counts": self.counts,
            "splits": {k: v.tolist() for k, v in self.splits.items()},
        }

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, d: dict, source: str = "protocol") -> "Protocol":
        if not isinstance(d, dict) or d.get("format") != PROTOCOL_FORMAT:
            raise DataError(f"{source}: not a crossmedia protocol file (expected \"format\": \"{PROTOCOL_FORMAT}\")")
        if int(d.get("format_version", 0)) > PROTOCOL_FORMAT_VERSION:
            raise DataError(
                f"{source}: protocol format_version {d.get('format_version')} is newer than this crossmedia supports ({PROTOCOL_FORMAT_VERSION})"
            )
        try:
            splits = d["splits"]
            if not isinstance(splits, dict):
                raise TypeError
            splits = {str(k): np.asarray(v, dtype=np.int64) for k, v in splits.items()}
            p = cls(
                name=str(d["name"]), n_items=int(d["n_items"]), splits=splits,
                seed=None if d.get("seed") is None else int(d["seed"]), rule=str(d.get("rule", "")),
                version=int(d.get("version", 1)), dataset=str(d.get("dataset", "")),
                query_in_retrieval=bool(d.get("query_in_retrieval", False)),
                extra={"counts": d.get("counts")} if d.get("counts") is not None else {},
            )
        except KeyError as e:
            raise DataError(f"{source}: missing field {e.args[0]!r}") from None
        except (TypeError, ValueError):
            raise DataError(f"{source}: field 'splits' must map split names to lists of integer item indices") from None
        return p

    @classmethod
    def load(cls, path: str | Path, labels: np.ndarray | None = None) -> "Protocol":
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: protocol file not found")
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(f"{path}: not valid JSON ({e.__class__.__name__} at {getattr(e, 'lineno', '?')}:{getattr(e, 'colno', '?')})") from None
        p = cls.from_dict(d, source=str(path))
        p.validate(labels=labels, source=str(path))
        return p
