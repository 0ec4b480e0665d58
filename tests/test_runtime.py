"""torch_settings: process-wide torch settings hold inside the block and are the caller's again
after it, on error too."""

import pytest
import torch

from crossmedia.runtime import torch_settings


def _flushes() -> bool:
    # a subnormal float32 survives a multiplication by one unless subnormals are flushed
    return float(torch.tensor([1e-40], dtype=torch.float32) * 1.0) == 0.0


def test_settings_hold_inside_and_are_restored_after_an_error():
    before = torch.get_num_threads()
    other = 1 if before != 1 else 2
    assert not torch.are_deterministic_algorithms_enabled() and not _flushes()
    with pytest.raises(RuntimeError, match="inside"):
        with torch_settings(threads=other, deterministic=True, flush_denormal=True):
            assert torch.get_num_threads() == other
            assert torch.are_deterministic_algorithms_enabled()
            assert _flushes()
            raise RuntimeError("inside")
    assert torch.get_num_threads() == before
    assert not torch.are_deterministic_algorithms_enabled() and not _flushes()


def test_none_leaves_a_setting_alone():
    before = torch.get_num_threads()
    with torch_settings():
        assert torch.get_num_threads() == before and not torch.are_deterministic_algorithms_enabled()
        assert not _flushes()
    assert torch.get_num_threads() == before
