"""crossmedia: fine-grained cross-media (image <-> text) retrieval with compact learned codes.

The pipeline, following the data: :mod:`crossmedia.data` (datasets, protocols, the synthetic
scene generator) → :mod:`crossmedia.models` (encoders and registered models) with
:mod:`crossmedia.losses` → :mod:`crossmedia.train` (run directories, checkpoints) →
:mod:`crossmedia.eval` with :mod:`crossmedia.metrics` → :mod:`crossmedia.viz`.
"""

__version__ = "0.1.0"

from .errors import ConfigError, DataError, UserError  # noqa: E402

__all__ = ["ConfigError", "DataError", "UserError", "__version__"]
