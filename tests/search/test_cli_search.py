"""``crossmedia index …`` and ``crossmedia search`` end to end (the CLI module
``crossmedia.cli.index``; kept here to share the trained-run fixtures)."""

import json

from crossmedia.cli.main import main


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_index_build_info_search_add_remove(capsys, tmp_path, cmsl_run, synth_data):
    ix = tmp_path / "ix"
    code, out, err = run(capsys, "index", "build", "--run", cmsl_run, "--data", synth_data, "--out", ix)
    assert code == 0, err
    assert "indexed" in out and "rerank yes" in out
    code, out, _ = run(capsys, "index", "info", ix)
    assert code == 0 and "cmsl" in out and "quantized" in out
    code, out, _ = run(capsys, "search", ix, "--text", "red circle", "-k", "3", "--json")
    res = json.loads(out)
    assert code == 0 and [h["rank"] for h in res["hits"]] == [1, 2, 3] and res["engine"] == "aqd"
    assert all(h["modality"] == "image" and h["image"].endswith(".png") for h in res["hits"])
    img = res["hits"][0]["image"]
    code, out, _ = run(capsys, "search", ix, "--image", img, "-k", "2", "--rerank", "10", "--engine", "faiss")
    assert code == 0 and len([ln for ln in out.splitlines() if ln.strip().startswith(("1 ", "2 "))]) == 2
    code, out, err = run(capsys, "index", "remove", ix, res["hits"][0]["id"])
    assert code == 0 and "removed 1" in out
    code, out, err = run(capsys, "index", "add", ix, "--data", synth_data, "--split", "query")
    assert code == 0 and "added" in out
    code, out, err = run(capsys, "index", "export-faiss", ix, "--out", tmp_path / "fx")
    assert code == 0 and (tmp_path / "fx" / "image.faiss").is_file()


def test_cli_errors(capsys, tmp_path, cmsl_index):
    for args, needle in [
        (("search", cmsl_index.path, "--text", ""), "empty"),
        (("search", cmsl_index.path, "--text", "qqqq zzzz"), "vocabulary"),
        (("search", cmsl_index.path), "exactly one of --text or --image"),
        (("search", tmp_path / "nope", "--text", "red"), "not found"),
        (("search", cmsl_index.path, "--text", "red", "--engine", "hamming"), "not available"),
        (("index", "build", "--run", tmp_path / "norun", "--out", tmp_path / "o"), "not a crossmedia run"),
        (("index", "remove", cmsl_index.path, "nope"), "unknown item"),
    ]:
        code, _, err = run(capsys, *args)
        assert code == 2 and err.startswith("error:") and needle in err and len(err.strip().splitlines()) == 1, (args, err)
    assert not (tmp_path / "o").exists()


def test_cli_device_option(capsys, tmp_path, cmsl_index):
    code, out, err = run(capsys, "search", cmsl_index.path, "--text", "red circle", "-k", "4", "--json")
    want = [h["id"] for h in json.loads(out)["hits"]]
    code, out, err = run(capsys, "search", cmsl_index.path, "--text", "red circle", "-k", "4", "--json", "--device", "cpu*2")
    assert code == 0, err
    assert [h["id"] for h in json.loads(out)["hits"]] == want  # two CPU shards: the same hits
    for bad in ("tpu", "cuda:x"):
        code, out, err = run(capsys, "search", cmsl_index.path, "--text", "red", "--device", bad)
        assert code == 2 and err.startswith("error: --device") and len(err.strip().splitlines()) == 1
    code, out, err = run(capsys, "index", "build", "--run", tmp_path / "nope", "--out", tmp_path / "o", "--device", "tpu")
    assert code == 2 and not (tmp_path / "o").exists()


def test_search_shows_the_matched_text_labelled(capsys, cmsl_index):
    """The index matches the items' tags (the model's text field): the display shows those,
    labelled, with the caption as context; columns have headers; the score kind is named and
    changes name with --rerank."""
    ix = cmsl_index
    code, out, err = run(capsys, "search", ix.path, "--text", "a red circle and a blue square", "-k", "3")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("results: 3 images; score = inner product")
    head = next(ln for ln in lines if ln.lstrip().startswith("rank"))
    assert head.split()[:4] == ["rank", "score", "R", "id"]
    first = ix.item(next(ln.split()[3] for ln in lines if ln.strip().startswith("1 ")))
    assert f"matched tags: {first['text']}" in out and "caption (context): " in out
    assert first["text_field"] == "tags" and first["text"] != first["caption"]
    code, out, _ = run(capsys, "search", ix.path, "--text", "red circle", "-k", "2", "--rerank", "5")
    assert code == 0 and "score = fine-grained score" in out and "not on the first-stage scale" in out
    code, out, _ = run(capsys, "search", ix.path, "--text", "red circle", "-k", "2", "--json")
    res = json.loads(out)
    assert res["matched_text_field"] == "tags" and res["score"].startswith("inner product")
    assert all(h["text_field"] == "tags" and h["caption"] for h in res["hits"])
    assert res["relevance"]["query_labels"] == ["red circle"]
    assert [h["relevant"] for h in res["hits"]] == [("red circle" in h["labels"]) for h in res["hits"]]
    # long texts are cut to the terminal width unless --full
    code, out, _ = run(capsys, "search", ix.path, "--image", first["image"], "-k", "1", "--full")
    cap = ix.item(next(ln.split()[2] for ln in out.splitlines() if ln.strip().startswith("1 ")))["caption"]
    assert code == 0 and cap in out and "…" not in out
