"""Shared by the benchmark-script tests: the stand-in npm emoji packages (``tests/data``) and the
stand-in feature extractor (this folder) importable by name."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for folder in (HERE.parent / "data", HERE):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
