"""``crossmedia explain RUN --data DIR --query …``: visual comparisons of retrieval results —
query → top-k image grids (relevant green, irrelevant red), optionally side by side with a second
run (``--compare RUN_B``), and per-word attention heatmaps for models with word–region attention
(see :mod:`crossmedia.explain`)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("explain")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="Dataset folder (default: the run's own data.root).")
@click.option("--query", "queries", multiple=True, required=True,
              help="A dataset item id (its text is the query) or free text; repeat for several queries.")
@click.option("--compare", "run_b", type=click.Path(path_type=Path), default=None,
              help="A second run shown side by side.")
@click.option("--k", default=6, show_default=True, type=click.IntRange(min=1, max=50), help="Results per query.")
@click.option("--rerank", default=0, show_default=True, type=click.IntRange(min=0),
              help="Re-sort the first-stage top-N by the model's fine-grained score (0 = off).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("explain_out"), show_default=True)
def explain_cmd(run_dir, data_dir, queries, run_b, k, rerank, out) -> None:
    """Top-k result grids (two runs side by side with --compare) and per-word attention heatmaps."""
    from ..errors import UserError
    from ..explain import write_visual_comparison

    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    summary = write_visual_comparison(run_dir, run_b, data_dir, out, list(queries), k=k, rerank=rerank)
    for q in summary["queries"]:
        for r in q["runs"]:
            rel = [h["relevant"] for h in r["results"]]
            tag = "" if any(x is None for x in rel) else f"  {sum(rel)}/{len(rel)} relevant"
            click.echo(f"{r['run']}: {q['query']!r} -> {', '.join(h['id'] for h in r['results'])}{tag}")
    click.echo(f"wrote {summary['comparison_png']}" + (f" and {len(summary['attention_pngs'])} attention maps"
                                                       if summary["attention_pngs"] else "") + f" ({out / 'explain.json'})")
