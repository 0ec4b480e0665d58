"""Fuzz driver (run as a script by ``test_fuzz_cli.py``): hypothesis draws command lines and
config values for ``crossmedia``, each is run in-process (``main(argv)``) under an address-space
limit, and every outcome is classified. Prints a JSON summary:

    cases, exit codes, tracebacks (any exception escaping ``main``), bad_errors (exit 2 whose
    stderr is not exactly one ``error: ...`` line, or an exit code other than 0/2),
    breaches (MemoryError escaping, i.e. the limit was hit outside the guard), guard_stops.

    python fuzz_cli_driver.py --cases 1000 --index IX --data DATA --work DIR [--real-data]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import sys
import traceback
from pathlib import Path

KEYS = ["train.epochs", "train.batch_size", "train.lr", "train.weight_decay", "train.lr_decay", "train.seed",
        "train.threads", "train.device", "train.val_every", "train.val_metric", "train.tensorboard",
        "train.max_memory_gb", "data.root", "data.protocol", "data.text_field", "data.image_source", "data.image_size",
        "data.min_count", "data.max_tokens", "eval.metrics", "eval.tie", "eval.empty_query", "eval.chunk_size",
        "model.name", "model.bits", "model.K", "model.text_hidden", "model.cnn_channels", "model.image_hidden",
        "model.nosuch", "nosuch.key", "train", "train.", ".x", "model.graph.enabled"]
RAW = ["", "nan", ".nan", "-.inf", ".inf", "1e309", "-0", "[1, 2]", "{a: 1}", "null", "~", "true", "&a [*a, *a]",
       "!!binary AAAA", "'x'", "0x10", "1_000", "9" * 40, "-9" * 20, "[", "}", "\x00", "a=b=c", "cuda:7", "tpu",
       "cpu", "cuda", "twotower", "cmsl", "dafsn", "4096", "4097", "0", "1", "-1", "2e9", "1e-300", "\t", "é", "🙂"]


def strategies(index: str, missing_data: str, real_data: str | None, work: str):
    from hypothesis import strategies as st

    scalar = st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.sampled_from(RAW),
        st.text(max_size=12),
    )
    sets = st.lists(st.tuples(st.sampled_from(KEYS), scalar).map(lambda kv: f"{kv[0]}={kv[1]}"), max_size=4)

    @st.composite
    def train_cmd(draw):
        real = real_data is not None and draw(st.booleans())
        n = draw(st.integers(0, 10**9))
        argv = ["train", "--data", real_data if real else missing_data, "--out", f"{work}/run{n}"]
        for s in draw(sets):
            argv += ["--set", s]
        if real:  # the run must end fast whatever else was drawn: no epochs
            argv += ["--set", "train.epochs=0", "--set", "train.threads=1"]
        if draw(st.booleans()):
            argv += ["--bits", draw(scalar)]
        if draw(st.integers(0, 4)) == 0:
            argv += ["--device", draw(scalar)]
        if draw(st.integers(0, 4)) == 0:
            argv += ["--model", draw(st.sampled_from(["twotower", "cmsl", "nosuch", ""]))]
        return argv

    @st.composite
    def config_file_cmd(draw):
        n = draw(st.integers(0, 10**9))
        path = Path(work) / f"cfg{n}.{draw(st.sampled_from(['yaml', 'toml', 'json', 'txt']))}"
        kind = draw(st.integers(0, 2))
        if kind == 0:
            path.write_bytes(draw(st.binary(max_size=200)))
        elif kind == 1:
            lines = []
            for key, value in draw(st.lists(st.tuples(st.sampled_from(KEYS), scalar), max_size=4)):
                sec, _, k = key.partition(".")
                lines.append(f"{sec or 'x'}:\n  {k or 'y'}: {value}\n")
            path.write_text("".join(lines), encoding="utf-8")
        else:
            path.write_text(draw(st.text(max_size=200)), encoding="utf-8")
        return ["train", "--config", str(path), "--data", missing_data, "--out", f"{work}/crun{n}"]

    @st.composite
    def search_cmd(draw):
        argv = ["search", index, "--text", draw(st.one_of(st.text(max_size=30), st.sampled_from(["red circle", "blue"])))]
        argv += ["-k", draw(st.one_of(st.integers(-5, 2**70).map(str), st.sampled_from(RAW)))]
        if draw(st.booleans()):
            argv += ["--rerank", draw(st.one_of(st.integers(-5, 2**70).map(str), st.sampled_from(RAW)))]
        if draw(st.booleans()):
            argv += ["--engine", draw(st.sampled_from(["aqd", "hamming", "float", "faiss", "x"]))]
        if draw(st.booleans()):
            argv.append("--json")
        return argv

    @st.composite
    def other_cmd(draw):
        junk = draw(st.one_of(st.text(max_size=20), st.sampled_from([index, missing_data, "", "/", "/dev/null"])))
        return draw(st.sampled_from([
            ["index", "info", junk], ["index", "remove", junk, "x"], ["data", "info", junk],
            ["index", "build", "--run", junk, "--out", f"{work}/ix", "--batch-size", draw(scalar)],
            ["eval", junk], ["search", junk, "--text", "red"], ["index", "add", junk, "--data", missing_data],
        ]))

    return st.one_of(train_cmd(), config_file_cmd(), search_cmd(), other_cmd())


def run_case(argv, tally) -> None:
    from crossmedia.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    code = None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except MemoryError:
        tally["breaches"].append(argv)
        return
    except BaseException:  # noqa: BLE001 - a traceback is exactly what we look for
        tally["tracebacks"].append({"argv": argv, "traceback": traceback.format_exc()[-1500:]})
        return
    tally["codes"][str(code)] = tally["codes"].get(str(code), 0) + 1
    lines = [ln for ln in err.getvalue().splitlines() if ln.strip() and not ln.startswith("warning: ")]
    if "needs more memory than the limit" in err.getvalue():
        tally["guard_stops"] += 1
    if code not in (0, 2) or (code == 2 and (len(lines) != 1 or not lines[0].startswith("error: "))) \
            or "Traceback" in err.getvalue():
        tally["bad_errors"].append({"argv": argv, "code": code, "stderr": err.getvalue()[-800:]})


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--index", required=True)
    ap.add_argument("--data", default=None, help="A real dataset (train cases then build models, with 0 epochs).")
    ap.add_argument("--work", required=True)
    ap.add_argument("--limit-gib", type=float, default=2.0)
    a = ap.parse_args()
    limit = int(a.limit_gib * (1 << 30))
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    os.environ.setdefault("CROSSMEDIA_NO_PROGRESS", "1")
    import torch

    torch.set_num_threads(1)
    from hypothesis import HealthCheck, given, settings

    Path(a.work).mkdir(parents=True, exist_ok=True)
    tally = {"cases": 0, "codes": {}, "tracebacks": [], "bad_errors": [], "breaches": [], "guard_stops": 0}

    @settings(max_examples=a.cases, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(strategies(a.index, str(Path(a.work) / "no-such-data"), a.data, a.work))
    def case(argv):
        tally["cases"] += 1
        run_case(argv, tally)

    case()
    tally["limit_gib"] = a.limit_gib
    tally["rlimit_as_after"] = resource.getrlimit(resource.RLIMIT_AS)[0]
    print(json.dumps(tally))
    return 0


if __name__ == "__main__":
    sys.exit(main())
