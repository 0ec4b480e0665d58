"""Every size the user controls is bounded before memory is touched, and every bad value is one
line ``error: ...`` with exit status 2 (each case here ended in a traceback or an OOM before)."""

import os
import subprocess
import sys
import textwrap

import pytest
from reliability_helpers import assert_one_line_error, run_cli

from crossmedia.config import resolve_config
from crossmedia.errors import ConfigError


def _train(rel_data, out, *extra):
    return run_cli("train", "--data", rel_data, "--out", out, "--set", "model.name=twotower", *extra)


@pytest.mark.parametrize("setting, needle", [
    ("model.bits=1000000", "model.bits: expected an integer from 1 to 4096"),
    ("train.lr=nan", "train.lr: expected a finite number"),
    ("train.lr=.inf", "train.lr: expected a finite number"),
    ("train.threads=-2", "train.threads: expected an integer from 1 to 1024"),
    ("train.epochs=", "empty value"),
    ("train.batch_size=100000000000", "train.batch_size: expected an integer from 1 to 1000000"),
    ("train.weight_decay=-1", "train.weight_decay"),
    ("train.device=tpu", "train.device"),
    ("data.max_tokens=100000", "data.max_tokens"),
    ("train.max_memory_gb=nan", "train.max_memory_gb"),
])
def test_bad_values_are_one_line_errors(rel_data, tmp_path, setting, needle):
    code, _, err = _train(rel_data, tmp_path / "run", "--set", setting)
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("text, needle", [
    ("train:\n  lr: .nan\n", "train.lr: expected a finite number"),
    ("train:\n  threads: -2\n", "train.threads"),
    ("train:\n  device: tpu\n", "train.device"),
    ("model:\n  bits: 1000000\n", "model.bits"),
    ("train:\n  epochs:\n", "train.epochs: empty value"),
])
def test_bad_config_file_values(rel_data, tmp_path, text, needle):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    code, _, err = run_cli("train", "--config", cfg, "--data", rel_data, "--out", tmp_path / "run")
    assert_one_line_error(code, err, needle)


def test_binary_config_file(rel_data, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_bytes(bytes(range(256)) * 4)
    code, _, err = run_cli("train", "--config", cfg, "--data", rel_data, "--out", tmp_path / "run")
    assert_one_line_error(code, err, "not a UTF-8 text file")
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (2 << 20))
    code, _, err = run_cli("train", "--config", big, "--data", rel_data, "--out", tmp_path / "run")
    assert_one_line_error(code, err, "at most")


@pytest.mark.parametrize("device, needle", [("cuda:7", None), ("tpu", "expected cpu, cuda or cuda:N"),
                                            ("cuda:99999", "expected cpu, cuda or cuda:N")])
def test_bad_devices(rel_data, tmp_path, device, needle):
    code, _, err = _train(rel_data, tmp_path / "run", "--device", device)
    import torch

    if needle is None:
        needle = "CUDA is not available" if not torch.cuda.is_available() else "CUDA device(s)"
    assert_one_line_error(code, err, needle)


def test_device_index_beyond_the_machine_is_refused(monkeypatch):
    import torch

    from crossmedia.config import check_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    check_device("cuda:1")
    with pytest.raises(ConfigError, match="has 2 CUDA device"):
        check_device("cuda:7")


def test_k_and_batch_bounds_on_the_command_line(rel_index, rel_run, tmp_path):
    code, out, err = run_cli("search", rel_index, "--text", "red", "-k", 2**63)
    assert code == 0 and "Traceback" not in err
    code, _, err = run_cli("index", "build", "--run", rel_run, "--out", tmp_path / "ix", "--batch-size", 10**9)
    assert_one_line_error(code, err, "--batch-size")


def test_valid_config_still_resolves():
    cfg = resolve_config(None, ["train.lr=1e-3", "train.threads=2", "model.bits=64"])
    assert cfg["train"]["threads"] == 2 and cfg["model"]["bits"] == 64


# ---------------------------------------------------------------------------- memory guard
def _script(body: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "CROSSMEDIA_NO_PROGRESS": "1"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(body)], capture_output=True, text=True, env=env,
                          timeout=300)


def test_memory_guard_turns_an_oversized_allocation_into_an_error():
    r = _script("""
        import numpy as np
        from crossmedia.guard import memory_guard
        from crossmedia.errors import UserError
        try:
            with memory_guard(3.0, "train", "train.max_memory_gb"):
                np.ones(1 << 32)  # 32 GiB
        except UserError as e:
            print("OK", e)
        import torch
        try:
            with memory_guard(3.0, "train", "train.max_memory_gb"):
                torch.empty(1 << 33)
        except UserError as e:
            print("OK", e)
        np.ones(1 << 20)  # the limit is lifted afterwards
    """)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and all(ln.startswith("OK train: needs more memory than the limit of 3.0 GiB") for ln in lines)


def test_training_under_the_memory_guard_is_a_one_line_error(rel_data, tmp_path):
    # a model whose text layer alone needs ~16 GiB: ended in the kernel's OOM killer before
    r = _script(f"""
        import sys
        from crossmedia.cli.main import main
        sys.exit(main(["train", "--data", {str(rel_data)!r}, "--out", {str(tmp_path / 'run')!r},
                       "--set", "model.name=twotower", "--set", "model.text_hidden=4000000000",
                       "--set", "train.max_memory_gb=2", "--set", "train.threads=1"]))
    """)
    assert r.returncode == 2, r.stderr[-2000:]
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith("warning")]
    assert len(lines) == 1 and "needs more memory than the limit of 2.0 GiB (train.max_memory_gb)" in lines[0]
    assert not (tmp_path / "run").exists()
