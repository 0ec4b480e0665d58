"""Hypothesis fuzzing of the command line and config values (``fuzz_cli_driver.py``), in a
child process whose address space is capped at 2 GiB: every drawn command ends with exit 0, or
exit 2 and one line ``error: ...``; no traceback, no memory error outside the guard."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DRIVER = Path(__file__).with_name("fuzz_cli_driver.py")


def _fuzz(index, work, cases, data=None):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), CROSSMEDIA_NO_PROGRESS="1")
    args = [sys.executable, str(DRIVER), "--cases", str(cases), "--index", str(index), "--work", str(work),
            "--limit-gib", "2"]
    if data is not None:
        args += ["--data", str(data)]
    r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=1800)
    assert r.returncode == 0, r.stderr[-3000:]
    tally = json.loads(r.stdout.strip().splitlines()[-1])
    assert tally["cases"] == cases
    assert tally["tracebacks"] == [], tally["tracebacks"][:3]
    assert tally["bad_errors"] == [], tally["bad_errors"][:3]
    assert tally["breaches"] == [], tally["breaches"][:3]
    assert tally["rlimit_as_after"] == 2 << 30  # the guard restored the test's own limit
    return tally


def test_fuzz_cli_quick(rel_index, tmp_path):
    tally = _fuzz(rel_index, tmp_path, 150)
    assert set(tally["codes"]) <= {"0", "2"}


@pytest.mark.slow
def test_fuzz_cli_thousand_cases(rel_index, tmp_path):
    _fuzz(rel_index, tmp_path, 1000)


@pytest.mark.slow
def test_fuzz_cli_with_real_data(rel_index, rel_data, tmp_path):
    # drawn configs that pass validation build their model on real data (0 epochs): sizes the
    # bounds let through must stay under the 2 GiB cap or be stopped by the memory guard
    _fuzz(rel_index, tmp_path, 200, data=rel_data)
