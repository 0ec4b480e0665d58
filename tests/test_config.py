import pytest

from crossmedia.config import load_config_file, parse_override, resolve_config
from crossmedia.errors import ConfigError


def test_defaults_and_model_defaults_filled():
    cfg = resolve_config()
    assert cfg["model"]["name"] == "twotower" and cfg["model"]["bits"] == 32
    assert cfg["train"]["seed"] == 0 and cfg["eval"]["tie"] == "index"


def test_file_then_overrides(tmp_path):
    (tmp_path / "c.yaml").write_text("model:\n  bits: 16\ntrain:\n  epochs: 3\n  lr: 1e-3\n")
    (tmp_path / "c.toml").write_text("[model]\nbits = 64\n[train]\nepochs = 4\n")
    y = resolve_config(load_config_file(tmp_path / "c.yaml"), ["train.epochs=7", "model.gamma=0.5"])
    assert y["model"]["bits"] == 16 and y["train"]["epochs"] == 7 and y["model"]["gamma"] == 0.5
    assert y["train"]["lr"] == pytest.approx(1e-3)
    t = resolve_config(load_config_file(tmp_path / "c.toml"), data__root="D")
    assert t["model"]["bits"] == 64 and t["train"]["epochs"] == 4 and t["data"]["root"] == "D"
    assert resolve_config(None, ["eval.metrics=map_all,p@10"])["eval"]["metrics"] == ["map_all", "p@10"]


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.epochs", "expected key=value"),
        ("epochs=3", "section.name"),
        ("nosuch.x=1", "unknown config section 'nosuch'"),
        ("train.nosuch=1", "unknown key train.nosuch"),
        ("model.nosuch=1", "model.nosuch: not an option of model 'twotower'"),
        ("model.name=nosuch", "unknown model 'nosuch'"),
        ("train.epochs=many", "train.epochs: expected int"),
        ("train.lr=fast", "train.lr: expected a number"),
        ("train.lr=-1", "positive learning rate"),
        ("model.bits=true", "model.bits: expected int"),
        ("eval.tie=sometimes", "eval.tie: expected index, random or expected"),
        ("data.text_field=poem", "data.text_field"),
        ("data.image_source=video", "data.image_source: expected pixels or features"),
        ("data.image_size=4", "data.image_size: expected an integer of at least 8"),
    ],
)
def test_bad_overrides(override, message):
    with pytest.raises(ConfigError) as e:
        resolve_config(None, [override])
    assert message in str(e.value)


def test_malformed_files(tmp_path):
    (tmp_path / "bad.yaml").write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: malformed config"):
        load_config_file(tmp_path / "bad.yaml")
    (tmp_path / "bad.toml").write_text("[model\n")
    with pytest.raises(ConfigError, match="bad.toml: malformed config"):
        load_config_file(tmp_path / "bad.toml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping of sections"):
        load_config_file(tmp_path / "list.yaml")
    (tmp_path / "c.ini").write_text("")
    with pytest.raises(ConfigError, match="unknown config format"):
        load_config_file(tmp_path / "c.ini")
    with pytest.raises(ConfigError, match="not found"):
        load_config_file(tmp_path / "missing.yaml")


def test_feature_text_and_image_size():
    cfg = resolve_config(None, ["data.text_field=features", "data.image_size=96"])
    assert cfg["data"]["text_field"] == "features" and cfg["data"]["image_size"] == 96


def test_parse_override_yaml_values():
    assert parse_override("train.threads=null") == (["train", "threads"], None)
    assert parse_override("model.cnn_channels=[8, 16]") == (["model", "cnn_channels"], [8, 16])


def test_nested_model_options():
    from crossmedia.models import RetrievalModel, register_model

    @register_model("_test_nested")
    class Nested(RetrievalModel):
        default_config = {"bits": 8, "graph": {"enabled": True, "walks": 10}}

    cfg = resolve_config({"model": {"name": "_test_nested", "graph": {"walks": 3}}}, ["model.graph.enabled=false"])
    assert cfg["model"]["graph"] == {"enabled": False, "walks": 3}
    with pytest.raises(ConfigError, match="model.graph.nope: not an option of model '_test_nested' \\(options of graph: enabled, walks\\)"):
        resolve_config({"model": {"name": "_test_nested"}}, ["model.graph.nope=1"])
    with pytest.raises(ConfigError, match="model.graph.walks: expected int"):
        resolve_config({"model": {"name": "_test_nested"}}, ["model.graph.walks=many"])
    with pytest.raises(ConfigError, match="section.name"):
        resolve_config(None, ["train.a.b=1"])


def test_presets_load_by_name_and_models_carry_training_defaults(tmp_path):
    from crossmedia.config import list_presets, load_config_file

    assert {"dscmr-paper", "dcmh-paper", "acmr-paper", "dafsn-paper"} <= set(list_presets())
    paper = resolve_config(load_config_file("dafsn-paper"))["model"]
    assert (paper["loss"]["positives"], paper["text"]["pooling"], paper["adversarial"]["enabled"]) == ("pair", "last", True)
    assert paper["text"]["hidden"] == 128 and paper["gamma1"] == 4.0  # the rest: the model's defaults
    cfg = resolve_config(load_config_file("dscmr-paper"), ["train.epochs=3"])
    assert cfg["model"]["name"] == "dscmr" and cfg["model"]["dim"] == 1024 and cfg["train"]["epochs"] == 3
    # a file of that name wins over the preset
    (tmp_path / "dscmr-paper").write_text("x")
    with pytest.raises(ConfigError, match="unknown config format"):
        load_config_file(tmp_path / "dscmr-paper")
    with pytest.raises(ConfigError, match="not a preset .*dscmr-paper"):
        load_config_file("dscmr-papr")
    # DAFSN's recipe travels with the model; a config file or --set still wins
    assert resolve_config(None, model__name="dafsn")["train"]["lr"] == 2e-3
    assert resolve_config(None, ["train.lr=0.01"], model__name="dafsn")["train"]["lr"] == 0.01
    assert resolve_config(None, model__name="twotower")["train"]["lr"] == 1e-3


@pytest.mark.parametrize("override, message", [
    ("train.val_rule=test", "train.val_rule: expected heldout or train_database"),
    ("train.batch_order=random", "train.batch_order"),
    ("train.adam_betas=[0.5]", "train.adam_betas: expected two numbers"),
    ("train.optimizer=rmsprop", "train.optimizer"),
])
def test_bad_training_options(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        resolve_config(None, [override])
