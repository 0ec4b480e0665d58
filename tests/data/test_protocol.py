import json

import numpy as np
import pytest

from crossmedia.data import Protocol
from crossmedia.errors import DataError


def good():
    return Protocol.random(100, n_query=10, n_train=50, n_val=5, seed=3, name="p")


def test_random_protocol_is_disjoint_and_seeded():
    p = good()
    p.validate()
    assert p.counts == {"train": 50, "val": 5, "query": 10, "retrieval": 90}
    assert not set(p["query"]) & set(p["retrieval"])
    assert set(p["train"]) <= set(p["retrieval"]) and set(p["val"]) <= set(p["retrieval"])
    assert not set(p["train"]) & set(p["val"])
    q = Protocol.random(100, n_query=10, n_train=50, n_val=5, seed=3, name="p")
    assert all(np.array_equal(p[s], q[s]) for s in p.splits)
    r = Protocol.random(100, n_query=10, n_train=50, n_val=5, seed=4, name="p")
    assert not np.array_equal(p["query"], r["query"])
    assert "default_rng(3)" in p.rule


def test_unlabelled_items_never_become_queries():
    labels = np.zeros((50, 3), np.uint8)
    labels[:30, 0] = 1
    p = Protocol.random(50, n_query=20, n_train=10, n_val=2, seed=0, labels=labels)
    assert labels[p["query"]].sum(1).min() == 1


def test_round_trip(tmp_path):
    p = good()
    p.save(tmp_path / "p.json")
    q = Protocol.load(tmp_path / "p.json")
    assert q.to_dict() == p.to_dict()


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["splits"].update(train=d["splits"]["train"] + d["splits"]["query"][:1]), "both 'query' and 'train'"),
        (lambda d: d["splits"].update(val=d["splits"]["train"][:2]), "both 'val' and 'train'"),
        (lambda d: d["splits"].update(retrieval=d["splits"]["retrieval"] + d["splits"]["query"][:1]), "both 'query' and 'retrieval'"),
        (lambda d: d["splits"].pop("val"), "missing split"),
        (lambda d: d["splits"].update(query=[0, 0]), "more than once"),
        (lambda d: d["splits"].update(query=[1000]), "outside"),
        (lambda d: d["counts"].update(train=49), "records counts.train = 49"),
        (lambda d: d.pop("n_items"), "missing field 'n_items'"),
        (lambda d: d.update(format="other"), "not a crossmedia protocol"),
        (lambda d: d.update(format_version=99), "newer than"),
    ],
)
def test_validation_errors_name_file_and_problem(tmp_path, mutate, message):
    d = good().to_dict()
    mutate(d)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d))
    with pytest.raises(DataError) as e:
        Protocol.load(path)
    assert message in str(e.value)
    assert str(path) in str(e.value)


def test_label_coverage_checked():
    p = good()
    labels = np.zeros((100, 3), np.uint8)
    labels[:, 0] = 1
    labels[p["query"][0], 2] = 1  # label 2 only in a query item
    labels[p["query"][1], 0] = 0  # a query with no label at all
    warnings = p.validate(labels=labels)
    assert any("1 label(s) occur in 'query' but never in 'train'" in w for w in warnings)
    assert any("1 query item(s) have no label" in w for w in warnings)
    assert p.summary()["warnings"] == warnings


def test_query_in_retrieval_allowed_when_declared():
    p = good()
    p.splits["retrieval"] = np.union1d(p["retrieval"], p["query"])
    with pytest.raises(DataError):
        p.validate()
    p.query_in_retrieval = True
    p.validate()


def test_malformed_json(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        Protocol.load(path)
    with pytest.raises(DataError, match="not found"):
        Protocol.load(tmp_path / "missing.json")


def test_too_many_items_requested():
    with pytest.raises(DataError, match="exceeds"):
        Protocol.random(10, n_query=5, n_train=5, n_val=1, seed=0)


def test_validation_folds_hold_out_the_database():
    from crossmedia.data import Protocol

    p = Protocol.random(100, n_query=10, n_train=50, n_val=11, seed=3)
    folds = p.validation_folds("heldout")
    assert len(folds) == 2
    train = set(p["train"].tolist())
    for q, d in folds:
        assert not set(q.tolist()) & set(d.tolist())  # no query's own pair in its database, as in the test
        assert not (set(q.tolist()) | set(d.tolist())) & train
    assert sorted(np.concatenate([q for q, _ in folds]).tolist()) == sorted(p["val"].tolist())
    assert [(q.tolist(), d.tolist()) for q, d in folds] == [(q.tolist(), d.tolist()) for q, d in p.validation_folds()]
    (q, d), = p.validation_folds("train_database")
    assert q.tolist() == p["val"].tolist() and d.tolist() == p["train"].tolist()
    p.query_in_retrieval = True  # the test queries double as the database: so do the val items
    (q, d), = p.validation_folds("heldout")
    assert q.tolist() == d.tolist() == p["val"].tolist()
    with pytest.raises(Exception, match="val_rule"):
        p.validation_folds("test")


def test_test_database_views_partition_the_retrieval_set():
    from crossmedia.data import Protocol
    from crossmedia.data.protocol import DATABASE_VIEWS

    p = Protocol.random(100, n_query=10, n_train=50, n_val=11, seed=3)
    assert DATABASE_VIEWS == ("retrieval", "unseen", "train")
    full, unseen, train = (p.test_database(v) for v in DATABASE_VIEWS)
    assert full.tolist() == p["retrieval"].tolist()
    assert train.tolist() == sorted(p["train"].tolist())  # train is carved from the retrieval set
    assert len(unseen) == 100 - 10 - 50 - 11
    assert not set(unseen.tolist()) & (set(p["train"].tolist()) | set(p["val"].tolist()) | set(p["query"].tolist()))
    assert set(unseen.tolist()) | set(train.tolist()) | set(p["val"].tolist()) == set(full.tolist())
    assert "29 of 90" in p.test_database_text("unseen") and "50 of 90" in p.test_database_text("train")
    with pytest.raises(DataError, match="--database: expected one of retrieval, unseen, train, got 'all'"):
        p.test_database("all")


def test_empty_database_view_is_a_one_line_error():
    from crossmedia.data import Protocol

    # Wikipedia's shape: the test pairs are the queries and the retrieval set, train lies outside
    p = Protocol(name="wiki", n_items=20, splits={"train": np.arange(10), "val": np.arange(10, 12),
                                                   "query": np.arange(12, 20), "retrieval": np.arange(12, 20)},
                 query_in_retrieval=True)
    assert p.test_database("unseen").tolist() == list(range(12, 20))
    with pytest.raises(DataError, match=r"^--database train: protocol 'wiki' has no training item in its retrieval set"):
        p.test_database("train")
    p.splits["retrieval"] = np.arange(12)  # every retrieval item is a train or val item
    with pytest.raises(DataError, match="only training and val items"):
        p.test_database("unseen")
