import pytest
import torch

from crossmedia.errors import ConfigError
from crossmedia.models import DataInfo, RetrievalModel, get_model, list_models, model_config, register_model


def info():
    return DataInfo(n_labels=4, vocab=["<pad>", "<unk>", "red", "blue"], image_size=24)


def test_builtin_models_listed():
    assert "twotower" in list_models()


def test_register_and_get():
    @register_model("_test_dummy")
    class Dummy(RetrievalModel):
        default_config = {"bits": 8, "width": 3}

    m = get_model("_test_dummy", {"width": 5}, info())
    assert isinstance(m, Dummy) and m.config == {"bits": 8, "width": 5, "name": "_test_dummy"}
    assert "_test_dummy" in list_models()
    with pytest.raises(ValueError, match="already registered"):
        @register_model("_test_dummy")
        class Other(RetrievalModel):
            default_config = {}


def test_registration_needs_default_config():
    with pytest.raises(TypeError, match="default_config"):
        @register_model("_test_bad")
        class Bad(torch.nn.Module):
            pass


def test_unknown_model_and_option():
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        get_model("nope")
    with pytest.raises(ConfigError, match="not an option"):
        model_config("twotower", {"colour": 1})
