"""``crossmedia data info``: a summary of any dataset folder."""

from __future__ import annotations

import numpy as np

from .dataset import TEXT_FIELDS, Dataset
from .text import Vocabulary, coverage, coverage_warnings, resolve_tokenizer


def summarize(ds: Dataset, top: int = 10) -> dict:
    y = ds.labels
    freq = y.sum(0)
    order = np.argsort(-freq, kind="stable")
    out: dict = {
        "name": ds.name,
        "root": str(ds.root) if ds.root else None,
        "items": len(ds),
        "labels": {
            "count": ds.n_labels,
            "per_item_mean": float(y.sum(1).mean()) if len(ds) else 0.0,
            "items_without_label": int((y.sum(1) == 0).sum()),
            "unused_labels": int((freq == 0).sum()),
            "most_frequent": [(ds.label_names[i], int(freq[i])) for i in order[:top]],
            "least_frequent": [(ds.label_names[i], int(freq[i])) for i in order[::-1][:top]],
        },
        "text": {},
        "protocols": {},
        "warnings": [],
    }
    from .loading import dataset_tokenizer

    protocols = {name: ds.protocol(name) for name in ds.protocol_names()}
    default = protocols.get(ds.meta.get("default_protocol", "default"))
    fields = [f for f in TEXT_FIELDS if ds.has_field(f)]
    recorded = dataset_tokenizer(ds)
    tok = resolve_tokenizer(None, recorded, [t for f in fields for t in ds.texts(f)[:5000]]) if fields else None
    if tok is not None:
        out["tokenizer"] = {"name": tok.spec, "how": "recorded in dataset.json" if recorded else "detected from the text"}
    tokens: dict[str, list[list[str]]] = {}  # per field, each text's tokens: read once, used for every protocol
    for field in fields:
        texts = ds.texts(field)
        vocab = Vocabulary.build(texts, tokenizer=tok)
        tokens[field] = [tok(t) for t in texts]
        lengths = [len(t) for t in tokens[field]]
        cov = coverage(texts, tok)
        entry = {"vocabulary_size_all_items": len(vocab) - 2, "mean_length": float(np.mean(lengths)),
                 "empty": int(sum(1 for n in lengths if n == 0)), "dropped_share": cov["dropped_share"]}
        if default is not None:  # what a run builds: the train split's words (data.min_count = 1)
            entry["vocabulary_size"] = len(Vocabulary.build([texts[i] for i in default["train"]], tokenizer=tok)) - 2
            entry["vocabulary_split"] = f"train split of protocol {default.name!r}"
        else:
            entry["vocabulary_size"] = entry["vocabulary_size_all_items"]
            entry["vocabulary_split"] = "all items (no protocol)"
        out["text"][field] = entry
        out["warnings"] += coverage_warnings(cov, field, tok)
    for name, p in protocols.items():
        out["protocols"][name] = p.summary()
        unseen = {f: unseen_query_tokens(tokens[f], p) for f in fields}
        out["protocols"][name]["unseen_query_tokens"] = unseen
        out["warnings"] += [f"protocol {name!r}: {u:.0%} of the query texts' {f!r} tokens are not in its training "
                            "vocabulary (dropped as <unk>; data.unseen_words maps them through word vectors)"
                            for f, u in unseen.items() if u is not None and u > UNSEEN_WARN]
    if "source" in ds.meta:
        out["source"] = ds.meta["source"]
    return out


#: ``data info`` warns when more of a protocol's query tokens than this are outside its training vocabulary
UNSEEN_WARN = 0.1


def unseen_query_tokens(tokens: list[list[str]], protocol) -> float | None:
    """Share of the query split's tokens (``tokens``: each item's) that the train split's
    vocabulary lacks (None: no query tokens)."""
    train = {w for i in protocol["train"] for w in tokens[int(i)]}
    query = [w for i in protocol["query"] for w in tokens[int(i)]]
    return sum(w not in train for w in query) / len(query) if query else None


def format_summary(s: dict) -> str:
    lines = [f"dataset   {s['name']}  ({s['root']})", f"items     {s['items']}"]
    lab = s["labels"]
    lines.append(f"labels    {lab['count']} classes, {lab['per_item_mean']:.2f} per item, "
                 f"{lab['items_without_label']} items without a label, {lab['unused_labels']} unused classes")
    lines.append("  most frequent:  " + ", ".join(f"{n} ({c})" for n, c in lab["most_frequent"]))
    lines.append("  least frequent: " + ", ".join(f"{n} ({c})" for n, c in lab["least_frequent"]))
    if s.get("tokenizer"):
        lines.append(f"tokenizer {s['tokenizer']['name']} ({s['tokenizer']['how']})")
    for field, t in s["text"].items():
        lines.append(f"text      {field}: vocabulary {t['vocabulary_size']} words ({t['vocabulary_split']}; "
                     f"{t['vocabulary_size_all_items']} over all items), mean length {t['mean_length']:.1f} words, "
                     f"{t['empty']} empty, {t.get('dropped_share', 0.0):.0%} of letters/digits dropped")
    for w in s.get("warnings", []):
        lines.append(f"warning   {w}")
    for name, p in s["protocols"].items():
        c = p["counts"]
        lines.append(f"protocol  {name} v{p['version']} (seed {p['seed']}): train {c.get('train')}, val {c.get('val')}, "
                     f"query {c.get('query')}, retrieval {c.get('retrieval')}")
        lines.append(f"          rule: {p['rule']}")
        unseen = {f: u for f, u in p.get("unseen_query_tokens", {}).items() if u is not None}
        if unseen:
            lines.append("          query tokens outside the train vocabulary: "
                         + ", ".join(f"{f} {u:.0%}" for f, u in unseen.items()))
        for w in p.get("warnings", []):
            lines.append(f"          warning: {w}")
    if not s["protocols"]:
        lines.append("protocol  none")
    return "\n".join(lines)
