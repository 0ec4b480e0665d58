import torch

from crossmedia.models.memory import CrossBatchMemory


def test_memory_lives_on_the_labels_device_and_moves_with_the_model():
    mem = CrossBatchMemory()
    mem.reset(torch.zeros(5, 3), 4, torch.Generator().manual_seed(0))
    holder = torch.nn.Module()
    holder.memory = mem
    holder.to("meta")  # any device: the stored outputs are buffers, so .to() carries them
    assert {mem.image.device.type, mem.text.device.type, mem.labels.device.type} == {"meta"}
    assert mem.image.shape == (5, 4)
