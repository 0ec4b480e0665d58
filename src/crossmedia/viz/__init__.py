"""Pictures: retrieval grids (PIL) and curves of evaluation results (matplotlib, Agg backend,
imported only when plotting)."""

from .curves import plot_pr_curves, plot_precision_at_n
from .grids import retrieval_grid

__all__ = ["plot_pr_curves", "plot_precision_at_n", "retrieval_grid"]
