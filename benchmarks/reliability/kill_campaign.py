#!/usr/bin/env python
"""Kill campaign: SIGKILL ``crossmedia train``, ``index build``, ``index add`` and ``index remove``
at random moments and check what is left after every kill.

Per target, ``--kills`` processes are killed (a launch that finishes before its kill moment does
not count as a kill). Half the kill moments are drawn uniformly over the command's measured run
time, half are aimed at its write phase (the moment a temporary file appears, plus a random
delay), where a kill does the most harm.

Checks after every kill:

* train: ``last.pt`` (when present) loads; ``log.jsonl`` holds epochs 1..m with m the checkpoint's
  epoch or one less (the append after the checkpoint); the chain of resumes ends in weights and
  log records bit-identical to an uninterrupted run (all but the wall times), with no temporary
  files left.
* index build / add / remove: the index folder is absent, holds only a killed writer's
  leftovers, or opens (all checksums verified) and equals the old or the new version; after
  the next command that completes, no leftovers and no file beside the index.
* a concurrent reader thread opens the index and searches it in a loop during the index
  campaigns; any exception or any content other than the allowed versions is a failure.

    python benchmarks/reliability/kill_campaign.py --kills 50 --json results.json

Everything runs on a tiny synthetic dataset with one torch thread.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from crossmedia.cli.main import entry; entry()"]
TRAIN_SETS = ["model.name=twotower", "model.bits=16", "model.cnn_channels=[4, 8, 8, 8]", "model.text_hidden=16",
              "train.epochs=4", "train.val_every=1", "train.threads=1", "train.batch_size=8"]
TARGETS = ("train", "build", "add", "remove")


def _equal(a, b) -> bool:
    """Bit-identical, through nested dicts/lists of tensors (state dicts, optimizer states)."""
    import torch

    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if hasattr(a, "__array__") and not isinstance(a, (str, bytes)):
        import numpy as np

        return np.array_equal(np.asarray(a), np.asarray(b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return a == b


def _state(ck: dict) -> dict:
    """What must match between a resumed and an uninterrupted run: weights, training state
    (optimizer, scheduler, RNGs; last.pt only) and the epoch bookkeeping."""
    meta = ck.get("meta", {})
    out = {"model": ck["model"], "epoch": meta.get("epoch"), "best_epoch": meta.get("best_epoch")}
    if ck.get("training") is not None:
        out["training"] = ck["training"]
    return out


def child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src") + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(CROSSMEDIA_NO_PROGRESS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


class Campaign:
    def __init__(self, work: Path, kills: int, seed: int, log=print):
        self.work, self.kills, self.rng, self.log = work, kills, random.Random(seed), log
        self.env = child_env()
        self.results: dict[str, dict] = {}
        self.failures: list[str] = []

    # ------------------------------------------------------------------ processes
    def launch(self, args: list[str], *, kill_after: float | None = None, aim=None, aim_window: float = 0.05):
        """Run the CLI; kill it ``kill_after`` seconds in, or ``aim_window``·U(0,1) seconds after
        ``aim()`` first holds. Returns (killed, returncode, stderr, wall seconds)."""
        t0 = time.perf_counter()
        err = tempfile.TemporaryFile()
        p = subprocess.Popen(CLI + [str(a) for a in args], stdout=subprocess.DEVNULL, stderr=err, env=self.env)
        killed = False
        if aim is not None:
            while p.poll() is None and not aim():
                time.sleep(0.001)
            if p.poll() is None:
                time.sleep(self.rng.uniform(0, aim_window))
        elif kill_after is not None:
            try:
                p.wait(timeout=kill_after)
            except subprocess.TimeoutExpired:
                pass
        if (aim is not None or kill_after is not None) and p.poll() is None:
            p.kill()
            killed = True
        rc = p.wait()
        err.seek(0)
        return killed, rc, err.read().decode("utf-8", "replace"), time.perf_counter() - t0

    def fail(self, target: str, msg: str) -> None:
        self.failures.append(f"{target}: {msg}")
        self.results[target]["failures"] += 1
        self.log(f"  FAIL {target}: {msg}")

    def kill_moment(self, duration: float, aim_pred, window: float):
        """Half uniform over the run, half aimed at the write phase."""
        if self.rng.random() < 0.5:
            return {"kill_after": self.rng.uniform(0.0, duration)}
        return {"aim": aim_pred, "aim_window": window}

    # ------------------------------------------------------------------ data
    def setup(self) -> None:
        from crossmedia.data.make_synth import make_synthetic_dataset

        self.data = self.work / "data"
        make_synthetic_dataset(self.data, n=60, seed=0, image_size=24, overwrite=True)
        from crossmedia.data import Dataset

        ds = Dataset.load(self.data)
        self.query_ids = [str(ds.items[int(i)]["id"]) for i in ds.protocol()["query"]]
        self.ids_file = self.work / "query_ids.txt"
        self.ids_file.write_text("\n".join(self.query_ids) + "\n")

    # ------------------------------------------------------------------ train
    def train_args(self, out: Path, resume: bool) -> list:
        if resume:
            return ["train", "--out", out, "--resume"]
        args = ["train", "--data", self.data, "--out", out]
        for s in TRAIN_SETS:
            args += ["--set", s]
        return args

    @staticmethod
    def read_log(run: Path) -> list[dict]:
        p = run / "log.jsonl"
        if not p.is_file():
            return []
        out = []
        for line in p.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line cut by the kill; the resume rebuilds the log from the checkpoint
        return out

    @staticmethod
    def tmp_files(folder: Path) -> list[str]:
        return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.name.endswith(".tmp")
                      or p.name.startswith(".tmp-"))

    def check_run_after_kill(self, run: Path, epochs: int) -> None:
        import torch

        if not run.exists():
            return
        ck_path = run / "checkpoints" / "last.pt"
        log = [r["epoch"] for r in self.read_log(run)]
        if not ck_path.is_file():
            if log:
                self.fail("train", f"log has epochs {log} but there is no checkpoint")
            return
        try:
            ck = torch.load(ck_path, map_location="cpu", weights_only=False)
        except Exception as e:  # noqa: BLE001 - any failure to read is what we are looking for
            self.fail("train", f"last.pt unreadable after kill ({e.__class__.__name__}: {e})")
            return
        meta = ck.get("meta", ck)
        e = int(meta["epoch"])
        carried = [r["epoch"] for r in meta.get("log", [])]
        if carried != list(range(1, e + 1)):
            self.fail("train", f"checkpoint of epoch {e} carries log epochs {carried}")
        if log not in (list(range(1, e + 1)), list(range(1, e))):
            self.fail("train", f"log.jsonl epochs {log} do not match checkpoint epoch {e}")

    def check_run_final(self, run: Path, ref: dict) -> None:
        import torch

        for which in ("last", "best"):
            ck = torch.load(run / "checkpoints" / f"{which}.pt", map_location="cpu", weights_only=False)
            got, want = _state(ck), _state(ref[which])
            for part in want:
                if not _equal(got.get(part), want[part]):
                    self.fail("train", f"{which}.pt {part} differs from the uninterrupted run")
        strip = [{k: v for k, v in r.items() if k != "time_s"} for r in self.read_log(run)]
        if strip != ref["log"]:
            self.fail("train", f"final log differs from the uninterrupted run ({[r.get('epoch') for r in strip]})")
        left = self.tmp_files(run)
        if left:
            self.fail("train", f"temporary files left after the run finished: {left[:3]}")

    def campaign_train(self) -> None:
        import torch

        res = self.results["train"] = {"kills": 0, "launches": 0, "completed_chains": 0, "failures": 0,
                                       "aimed": 0, "resumed_from_scratch": 0}
        epochs = 4
        ref_dir = self.work / "train-ref"
        killed, rc, err, dur = self.launch(self.train_args(ref_dir, False))
        if rc != 0:
            raise SystemExit(f"reference training failed: {err}")
        ref = {w: torch.load(ref_dir / "checkpoints" / f"{w}.pt", map_location="cpu", weights_only=False)
               for w in ("last", "best")}
        ref["log"] = [{k: v for k, v in r.items() if k != "time_s"} for r in self.read_log(ref_dir)]
        self.log(f"train: reference run {dur:.1f} s")
        run = self.work / "train-run"
        ckdir = run / "checkpoints"

        def nth_write(n: int):
            """True once the n-th distinct checkpoint write of this launch is under way (the first
            launches aim at early writes, later ones at any of the run's 2 × epochs writes)."""
            seen: set[str] = set()

            def pred():
                if ckdir.is_dir():
                    seen.update(p.name for p in ckdir.iterdir() if p.name.endswith(".tmp"))
                return len(seen) >= n
            return pred

        while res["kills"] < self.kills:
            resume = (run / "config.yaml").is_file()
            if resume and not (ckdir / "last.pt").is_file():
                res["resumed_from_scratch"] += 1
            moment = self.kill_moment(dur, nth_write(self.rng.randint(1, 2 * epochs)), 0.03)
            killed, rc, err, _ = self.launch(self.train_args(run, resume), **moment)
            res["launches"] += 1
            if killed:
                res["kills"] += 1
                res["aimed"] += "aim" in moment
                self.check_run_after_kill(run, epochs)
                if res["kills"] % 10 == 0:
                    self.log(f"train: {res['kills']} kills, {res['failures']} failures")
                continue
            if rc != 0:
                self.fail("train", f"{'resume' if resume else 'fresh start'} exited {rc}: {err.strip()[-300:]}")
                shutil.rmtree(run, ignore_errors=True)
                continue
            self.check_run_final(run, ref)
            res["completed_chains"] += 1
            shutil.rmtree(run)
        self.log(f"train: {res}")

    # ------------------------------------------------------------------ index
    @staticmethod
    def signature(path: Path) -> tuple:
        """(item ids, sha256 of both code arrays) of the live version, opened with every check."""
        from crossmedia.search import Index

        return Campaign.signature_of(Index.load(path))

    def orphans(self, index: Path) -> list[str]:
        """Files beside the index, and leftovers of killed writers inside it (temporary folders,
        versions that never went live)."""
        from crossmedia.search import store

        out = [p.name for p in index.parent.iterdir() if p.name != index.name]
        return out + [f"{index.name}/{n}" for n in store.leftovers(index)]

    class Reader(threading.Thread):
        """Opens the index and searches it in a loop; records every failure."""

        def __init__(self, path: Path, allowed: set, campaign: "Campaign", target: str):
            super().__init__(daemon=True)
            self.path, self.allowed, self.c, self.target = path, allowed, campaign, target
            self.stop = threading.Event()
            self.reads = 0
            self.errors: list[str] = []

        def run(self) -> None:
            from crossmedia.search import Index, store

            while not self.stop.is_set():
                if not store.is_store(self.path):
                    time.sleep(0.01)
                    continue
                try:
                    ix = Index.load(self.path)
                    sig = Campaign.signature_of(ix)
                    if sig not in self.allowed:
                        self.errors.append(f"reader saw unexpected content ({len(ix)} items)")
                    hits = ix.search_text("red circle", k=5)
                    if not hits:
                        self.errors.append("reader's search returned nothing")
                    self.reads += 1
                except Exception as e:  # noqa: BLE001
                    self.errors.append(f"reader: {e.__class__.__name__}: {e}")
                time.sleep(0.02)

    @staticmethod
    def signature_of(ix) -> tuple:
        import numpy as np

        h = hashlib.sha256()
        for key in ("image_db", "text_db"):
            h.update(bytes(memoryview(np.ascontiguousarray(ix.arrays[key]))))
        return tuple(ix.ids), h.hexdigest()

    def model_run(self) -> Path:
        run = self.work / "index-run"
        if not (run / "checkpoints" / "best.pt").is_file():
            killed, rc, err, _ = self.launch(self.train_args(run, False))
            if rc != 0:
                raise SystemExit(f"training the index's model failed: {err}")
        return run

    def campaign_build(self) -> None:
        from crossmedia.search import store

        res = self.results["build"] = {"kills": 0, "launches": 0, "completed": 0, "failures": 0, "aimed": 0,
                                       "reads": 0}
        run = self.model_run()
        box = self.work / "build"
        box.mkdir()
        index = box / "ix"
        args = ["index", "build", "--run", run, "--data", self.data, "--out", index, "--split", "retrieval"]
        killed, rc, err, dur = self.launch(args)
        if rc != 0:
            raise SystemExit(f"reference index build failed: {err}")
        ref = self.signature(index)
        shutil.rmtree(index)
        self.log(f"build: reference {dur:.1f} s")
        reader = self.Reader(index, {ref}, self, "build")
        reader.start()

        def writing():
            return index.is_dir() and any(p.name.startswith(".tmp-") for p in index.iterdir())

        while res["kills"] < self.kills:
            moment = self.kill_moment(dur, writing, 0.05)
            killed, rc, err, _ = self.launch(args + ["--overwrite"], **moment)
            res["launches"] += 1
            if killed:
                res["kills"] += 1
                res["aimed"] += "aim" in moment
                if store.is_store(index):
                    try:
                        if self.signature(index) != ref:
                            self.fail("build", "index content differs from the reference build after a kill")
                    except Exception as e:  # noqa: BLE001
                        self.fail("build", f"index unreadable after a kill: {e.__class__.__name__}: {e}")
                elif not store.is_empty_or_leftovers(index):
                    self.fail("build", f"index folder without a live version holds {sorted(os.listdir(index))}")
                continue
            if rc != 0:
                self.fail("build", f"exited {rc}: {err.strip()[-300:]}")
                continue
            res["completed"] += 1
            if self.signature(index) != ref:
                self.fail("build", "completed build differs from the reference")
            left = self.orphans(index)
            if left:
                self.fail("build", f"orphans after a completed build: {left}")
        reader.stop.set()
        reader.join()
        res["reads"] = reader.reads
        for e in reader.errors:
            self.fail("build", e)
        self.log(f"build: {res}")

    def campaign_update(self) -> None:
        """index add and index remove, alternating on one index (each kill leaves the old or the
        new version; the next command is chosen by what is live)."""
        from crossmedia.search import Index

        for t in ("add", "remove"):
            self.results[t] = {"kills": 0, "launches": 0, "completed": 0, "failures": 0, "aimed": 0, "reads": 0}
        run = self.model_run()
        box = self.work / "update"
        box.mkdir()
        index = box / "ix"
        killed, rc, err, _ = self.launch(["index", "build", "--run", run, "--data", self.data, "--out", index,
                                          "--split", "retrieval"])
        if rc != 0:
            raise SystemExit(f"base index build failed: {err}")
        small = self.signature(index)
        add_args = ["index", "add", index, "--data", self.data, "--split", "query"]
        remove_args = ["index", "remove", index, "--ids-file", self.ids_file]
        killed, rc, err, dur_add = self.launch(add_args)
        if rc != 0:
            raise SystemExit(f"reference index add failed: {err}")
        big = self.signature(index)
        killed, rc, err, dur_remove = self.launch(remove_args)
        if rc != 0 or self.signature(index) != small:
            raise SystemExit(f"reference index remove failed or did not restore the index: {err}")
        self.log(f"add/remove: reference {dur_add:.1f} s / {dur_remove:.1f} s, {len(small[0])} ↔ {len(big[0])} items")
        reader = self.Reader(index, {small, big}, self, "add")
        reader.start()

        def writing():
            return any(p.name.startswith(".tmp-") for p in index.iterdir())

        state = small
        while min(self.results["add"]["kills"], self.results["remove"]["kills"]) < self.kills:
            op = "add" if state == small else "remove"
            res = self.results[op]
            if res["kills"] >= self.kills and self.rng.random() < 0.7:
                # enough kills of this one: mostly let it complete to get to the other
                moment = {}
            else:
                moment = self.kill_moment(dur_add if op == "add" else dur_remove, writing, 0.05)
            killed, rc, err, _ = self.launch(add_args if op == "add" else remove_args, **moment)
            res["launches"] += 1
            try:
                now = self.signature(index)
            except Exception as e:  # noqa: BLE001
                self.fail(op, f"index unreadable after {'a kill' if killed else 'the command'}: "
                              f"{e.__class__.__name__}: {e}")
                break
            if now not in (small, big):
                self.fail(op, f"index holds neither the old nor the new version ({len(now[0])} items)")
                break
            if killed:
                res["kills"] += 1
                res["aimed"] += "aim" in moment
            elif rc != 0:
                self.fail(op, f"exited {rc}: {err.strip()[-300:]}")
            else:
                res["completed"] += 1
                if now == state:
                    self.fail(op, "completed but the index did not change")
                left = self.orphans(index)
                if left:
                    self.fail(op, f"orphans after a completed {op}: {left}")
            state = now
        reader.stop.set()
        reader.join()
        self.results["add"]["reads"] = reader.reads
        for e in reader.errors:
            self.fail("add", e)
        # versions kept for readers are bounded: a final prune with no grace keeps two
        from crossmedia.search import store

        store.prune(index, grace_s=0)
        kept = [n for _, n in store.versions(index)]
        if len(kept) > 2:
            self.fail("remove", f"prune kept {len(kept)} versions")
        Index.load(index)
        self.log(f"add: {self.results['add']}\nremove: {self.results['remove']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=50, help="SIGKILLs per target (default 50).")
    ap.add_argument("--targets", default=",".join(TARGETS), help=f"Comma-separated subset of {','.join(TARGETS)}.")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=None, help="Scratch folder (default: a temporary one, removed).")
    ap.add_argument("--json", type=Path, default=None, help="Write the summary here.")
    ap.add_argument("--commit", default=None, help="Commit to record (when run from an exported tree).")
    a = ap.parse_args(argv)
    if a.kills < 1:
        ap.error("--kills: expected at least 1")
    targets = [t.strip() for t in a.targets.split(",") if t.strip()]
    bad = sorted(set(targets) - set(TARGETS))
    if bad:
        ap.error(f"--targets: unknown {bad}; expected some of {', '.join(TARGETS)}")
    sys.path.insert(0, str(REPO / "src"))
    os.environ.setdefault("CROSSMEDIA_NO_PROGRESS", "1")
    import torch

    torch.set_num_threads(1)
    from crossmedia.seed import git_commit, machine_info

    machine = machine_info()  # load average at the start
    work = a.work or Path(tempfile.mkdtemp(prefix="kill-campaign-"))
    work.mkdir(parents=True, exist_ok=True)
    c = Campaign(work, a.kills, a.seed)
    t0 = time.time()
    try:
        c.setup()
        if "train" in targets:
            c.campaign_train()
        if "build" in targets:
            c.campaign_build()
        if "add" in targets or "remove" in targets:
            c.campaign_update()
    finally:
        if a.work is None:
            shutil.rmtree(work, ignore_errors=True)
    summary = {"command": " ".join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:])),
               "kills_per_target": a.kills, "seed": a.seed, "results": c.results,
               "total_kills": sum(r["kills"] for r in c.results.values()), "failures": len(c.failures),
               "failure_messages": c.failures[:50], "wall_s": round(time.time() - t0, 1),
               "git_commit": a.commit or git_commit(REPO), "machine": machine, "torch_threads": 1,
               "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    print(json.dumps(summary, indent=2))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main())
