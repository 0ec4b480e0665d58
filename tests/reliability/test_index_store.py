"""Index folders are replaced atomically: versioned sub-folders behind a CURRENT pointer, no
half-written state visible to a reader, no orphans after a killed writer, a checksummed
manifest, and k bounded by the number of items."""

import json
import os
import threading

import numpy as np
import pytest
from reliability_helpers import assert_one_line_error, run_cli

from crossmedia.errors import DataError, UserError
from crossmedia.io import replace_dir
from crossmedia.search import Index, store


def _query_ids(data):
    from crossmedia.data import Dataset

    ds = Dataset.load(data)
    return [str(ds.items[int(i)]["id"]) for i in ds.protocol()["query"]]


def test_layout_is_versions_behind_a_pointer(rel_index):
    ix = Index.load(rel_index)
    assert (rel_index / "CURRENT").read_text().strip() == ix.version
    assert ix.files == rel_index / ix.version and (ix.files / "manifest.json.sha256").is_file()
    assert ix.info()["version"] == ix.version


def test_add_and_remove_make_new_versions_and_leave_no_orphans(index_copy, rel_data):
    ix = Index.load(index_copy)
    v0, n0 = ix.version, len(ix)
    ix2 = ix.add(rel_data, split="query")
    assert ix2.version != v0 and len(ix2) == n0 + 6
    # the old version is still whole for readers that opened it
    assert len(Index.load(index_copy / v0)) == n0
    # nothing beside the index (the old code left .ix.model.*.pt copies there), no temporaries
    assert sorted(os.listdir(index_copy.parent)) == ["ix"]
    assert store.leftovers(index_copy) == []
    # the unchanged model file is shared between versions, not copied
    assert os.stat(ix.files / "model.pt").st_ino == os.stat(ix2.files / "model.pt").st_ino
    ix3 = ix2.remove(_query_ids(rel_data))
    assert ix3.ids == ix.ids and sorted(os.listdir(index_copy.parent)) == ["ix"]


def test_a_failed_writer_leaves_the_old_version_live(index_copy):
    before = Index.load(index_copy)
    with pytest.raises(RuntimeError):
        with store.new_version(index_copy, update=True, base=before.version) as tmp:
            (tmp / "half.npy").write_bytes(b"x")
            raise RuntimeError("killed half-way")
    assert store.current_version(index_copy) == before.version and store.leftovers(index_copy) == []
    assert Index.load(index_copy).ids == before.ids


def test_a_killed_writers_leftovers_are_removed_by_the_next(index_copy, rel_data):
    live = store.current_version(index_copy)
    # what SIGKILL leaves: a temporary folder, and a version renamed into place but never made live
    (index_copy / ".tmp-dead").mkdir()
    (index_copy / ".tmp-dead" / "image_db.npy").write_bytes(b"partial")
    never = f"v{int(live[1:]) + 1:06d}"
    (index_copy / never).mkdir()
    assert set(store.leftovers(index_copy)) == {".tmp-dead", never}
    assert Index.load(index_copy).version == live  # readers are not disturbed by them
    Index.load(index_copy).add(rel_data, split="query")
    assert store.leftovers(index_copy) == []


def test_build_over_a_killed_build_and_overwrite_is_a_new_version(rel_run, rel_data, tmp_path):
    out = tmp_path / "ix"
    out.mkdir()
    (out / ".tmp-dead").mkdir()  # a build killed before its first version went live
    Index.build(rel_run, rel_data, out)  # no --overwrite needed: the folder holds only leftovers
    first = store.current_version(out)
    with pytest.raises(UserError, match="not empty"):
        Index.build(rel_run, rel_data, out)
    Index.build(rel_run, rel_data, out, overwrite=True)
    assert store.current_version(out) != first and store.leftovers(out) == []


def test_concurrent_update_is_refused_not_lost(index_copy, rel_data):
    a = Index.load(index_copy)
    b = Index.load(index_copy)
    a.add(rel_data, split="query")
    with pytest.raises(UserError, match="changed while this update"):
        b.remove([b.ids[0]])
    assert len(Index.load(index_copy)) == len(a) + 6


def test_prune_keeps_the_previous_version_and_young_ones(index_copy, rel_data):
    ix = Index.load(index_copy)
    ids = _query_ids(rel_data)
    for _ in range(2):
        ix = ix.add(rel_data, split="query").remove(ids)
    names = [n for _, n in store.versions(index_copy)]
    assert len(names) == 5  # all younger than the grace period
    assert store.prune(index_copy, grace_s=0) == names[:3]
    assert [n for _, n in store.versions(index_copy)] == names[3:]
    Index.load(index_copy)


def test_reader_retries_when_its_version_is_pruned_under_it(index_copy, rel_data, monkeypatch):
    ix = Index.load(index_copy)
    real = store.resolve
    calls = []

    def racing_resolve(root):
        folder, version = real(root)
        if not calls:  # the first resolve sees version A, then a writer swaps and prunes A
            calls.append(version)
            ix.add(rel_data, split="query")
            store.prune(index_copy, grace_s=0)
            import shutil

            shutil.rmtree(folder)
        return folder, version

    monkeypatch.setattr(store, "resolve", racing_resolve)
    again = Index.load(index_copy)
    assert len(again) == len(ix) + 6


def test_readers_never_see_a_partial_index_during_updates(index_copy, rel_data):
    ids = _query_ids(rel_data)
    n0 = len(Index.load(index_copy))
    stop, errors, reads = threading.Event(), [], [0]

    def reader():
        while not stop.is_set():
            try:
                ix = Index.load(index_copy)
                assert len(ix) in (n0, n0 + 6) and np.asarray(ix.arrays["image_db"]).shape[0] == len(ix)
                reads[0] += 1
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

    t = threading.Thread(target=reader)
    t.start()
    try:
        ix = Index.load(index_copy)
        for _ in range(3):
            ix = ix.add(rel_data, split="query").remove(ids)
    finally:
        stop.set()
        t.join()
    assert errors == [] and reads[0] > 0


def test_replace_dir_swaps_whole_folders(tmp_path):
    old, new = tmp_path / "d", tmp_path / "new"
    old.mkdir()
    (old / "a").write_text("old")
    new.mkdir()
    (new / "b").write_text("new")
    replace_dir(new, old)
    assert sorted(os.listdir(old)) == ["b"] and sorted(os.listdir(tmp_path)) == ["d"]


# ---------------------------------------------------------------------------- manifest checksum
def test_forged_manifest_is_detected(index_copy):
    live = Index.load(index_copy).files
    man = json.loads((live / "manifest.json").read_text())
    man["model"]["name"] = "forged"
    (live / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(DataError, match="manifest was changed"):
        Index.load(index_copy)
    code, _, err = run_cli("index", "info", index_copy)
    assert_one_line_error(code, err, "checksum mismatch")
    (live / "manifest.json.sha256").unlink()
    with pytest.raises(DataError, match="checksum is required"):
        Index.load(index_copy)


# ---------------------------------------------------------------------------- k bounded
@pytest.mark.parametrize("k", [10**9, 2**63, 2**100])
def test_k_is_capped_at_the_number_of_items(rel_index, k):
    ix = Index.load(rel_index)
    assert len(ix.search_text("red circle", k=k)) == len(ix)
    code, out, err = run_cli("search", rel_index, "--text", "red circle", "-k", k, "--json")
    assert code == 0, err
    assert len(json.loads(out)["hits"]) == len(ix)
