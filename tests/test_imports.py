"""Each subpackage imports on its own, in any order (no import cycle between packages)."""

import subprocess
import sys
from pathlib import Path

import crossmedia

PACKAGES = sorted(p.name for p in Path(crossmedia.__file__).parent.iterdir()
                  if p.is_dir() and (p / "__init__.py").is_file())

SCRIPT = """
import importlib, sys
for name in sys.argv[1:]:
    for mod in [m for m in sys.modules if m == "crossmedia" or m.startswith("crossmedia.")]:
        del sys.modules[mod]
    importlib.import_module("crossmedia." + name)
"""


def test_every_subpackage_imports_on_its_own():
    assert {"codecs", "engines", "eval", "models", "search", "train"} <= set(PACKAGES)
    # one fresh interpreter; each package imported first with no crossmedia module loaded
    # (torch and numpy stay loaded: only crossmedia's own import order is under test)
    r = subprocess.run([sys.executable, "-c", SCRIPT, *PACKAGES], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
