"""Run under torchrun by test_distributed.py: trains each model of MODELS (and an interrupted
twotower run) in one process group, so the launcher's start-up is paid once."""

import sys

import torch.distributed as dist

from crossmedia.config import resolve_config
from crossmedia.models.twotower import TwoTowerHashing
from crossmedia.train import train
from crossmedia.train import distributed as ddp

#: tiny configs without dropout (dropout masks are drawn per rank, see crossmedia.train.distributed)
MODELS = {
    "twotower": ["model.cnn_channels=[4,8,8,8]", "model.text_hidden=16", "model.dropout=0", "model.bits=8"],
    "cmsl": ["model.global_dim=16", "model.cnn_channels=[4,8,8,8]", "model.image_hidden=16", "model.text_hidden=16",
             "model.graph.dim=8", "model.graph.walks_per_node=2", "model.graph.walk_length=10", "model.graph.knn=3",
             "model.graph.epochs=1", "model.local.dim=8", "model.local.out_dim=4", "model.quant.kmeans_iters=3",
             "model.quant.warmup_epochs=0", "model.dropout=0"],
    "dafsn": ["model.text.embed_dim=16", "model.text.hidden=8", "model.image.cnn_channels=[4,8,8,8]",
              "model.text.dropout=0"],
}
COMMON = ["train.batch_size=8", "train.epochs=2"]


def config(root, model, *extra):
    return resolve_config(None, [*COMMON, *MODELS[model], *extra], data__root=str(root), model__name=model)


def main(root, out, models):
    ddp.init_from_env("cpu")  # joined here, so each train() below reuses the group
    for m in models.split(","):
        train(config(root, m), f"{out}/{m}")
    # an interrupted 3-epoch twotower run (stops before epoch 3), resumed by the test on 1 process
    real = TwoTowerHashing.on_epoch_start

    def stop_at_2(self, epoch, ctx):
        if epoch == 2:
            raise KeyboardInterrupt
        return real(self, epoch, ctx)

    TwoTowerHashing.on_epoch_start = stop_at_2
    try:
        train(config(root, "twotower", "train.epochs=3"), f"{out}/cut")
    except KeyboardInterrupt:
        pass
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:4])
