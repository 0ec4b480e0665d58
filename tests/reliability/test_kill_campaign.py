"""The kill-campaign script (``benchmarks/reliability/kill_campaign.py``) runs end to end with one
kill per target and reports no failure (the full campaign, 50 kills per target, is recorded in
``benchmarks/results/reliability.md``)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "reliability" / "kill_campaign.py"


@pytest.mark.slow
def test_kill_campaign_small(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), CROSSMEDIA_NO_PROGRESS="1")
    out = tmp_path / "summary.json"
    r = subprocess.run([sys.executable, str(SCRIPT), "--kills", "1", "--targets", "train,remove",
                        "--work", str(tmp_path / "w"), "--json", str(out), "--seed", "3"],
                       capture_output=True, text=True, env=env, timeout=900)
    summary = json.loads(out.read_text())
    assert r.returncode == 0 and summary["failures"] == 0, summary["failure_messages"]
    assert summary["results"]["train"]["kills"] == 1
    assert summary["results"]["remove"]["kills"] >= 1 and summary["results"]["add"]["reads"] > 0
