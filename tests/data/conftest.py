import pytest
from emoji_packages import write_packages


@pytest.fixture
def emoji_src(tmp_path):
    """The tiny stand-in npm emoji packages, unpacked."""
    return write_packages(tmp_path / "npm")
