"""Run under torchrun by test_distributed.py: trains each model of MODELS (and an interrupted
twotower run) in one process group, so the launcher's start-up is paid once; also checks the
process group's :class:`RankCollectives` and the sharded codebook step against one process's
(``collectives.json`` in the output folder, written by rank 0)."""

import json
import sys

import torch
import torch.distributed as dist

from crossmedia.config import resolve_config
from crossmedia.models.twotower import TwoTowerHashing
from crossmedia.quant import CompositeQuantizer
from crossmedia.train import train
from crossmedia.train import distributed as ddp

_TT = ["model.cnn_channels=[4,8,8,8]", "model.text_hidden=16", "model.dropout=0", "model.bits=8"]
#: tiny configs without dropout (dropout masks are drawn per rank, see crossmedia.train.distributed);
#: CMSL's codebook step runs at every epoch (no warm-up: k-means, then ICM + codebooks), DCMH's
#: B-step after its first image + text pass (epoch 3)
MODELS = {
    "twotower": _TT,
    "cmsl": ["model.global_dim=16", "model.cnn_channels=[4,8,8,8]", "model.image_hidden=16", "model.text_hidden=16",
             "model.graph.dim=8", "model.graph.walks_per_node=2", "model.graph.walk_length=10", "model.graph.knn=3",
             "model.graph.epochs=1", "model.local.dim=8", "model.local.out_dim=4", "model.quant.kmeans_iters=3",
             "model.quant.warmup_epochs=0", "model.dropout=0", "train.epochs=3", "model.K=16"],
    "dafsn": ["model.text.embed_dim=16", "model.text.hidden=8", "model.image.cnn_channels=[4,8,8,8]",
              "model.text.dropout=0"],
    "dcmh": [*_TT, "train.epochs=3"],
}
COMMON = ["train.batch_size=8", "train.epochs=2"]


def config(root, model, *extra):
    return resolve_config(None, [*COMMON, *MODELS[model], *extra], data__root=str(root), model__name=model)


def check_collectives(out):
    """Rank spans, all-gather and all-reduce of RankCollectives, and the codebook update from
    normal equations summed over the ranks against one process's update_codebooks."""
    info, _ = ddp.init_from_env("cpu")
    ranks = ddp.ranks(info)
    n = 11
    full = torch.arange(n * 3, dtype=torch.float32).view(n, 3)
    s, e = ranks.span(n)
    gathered = ranks.all_gather(full[s:e], n)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(50, 6, generator=g)
    codes = torch.randint(0, 8, (50, 2), generator=g)
    q_one = CompositeQuantizer(2, 8, 6)
    q_one.update_codebooks(x, codes)
    q = CompositeQuantizer(2, 8, 6)
    s, e = ranks.span(50)
    hth, htx = q.normal_equations(x[s:e], codes[s:e])
    q.solve_codebooks(ranks.all_reduce_sum(hth), ranks.all_reduce_sum(htx))
    # with the constant inner-product penalty: ε and the L-BFGS refinement summed over the ranks
    q_one_c = CompositeQuantizer(2, 8, 6, constant_weight=2.0, refine_iters=5)
    q_one_c.update_codebooks(x, codes)
    q_one_c.update_epsilon(codes)
    q_one_c.refine_codebooks(x, codes)
    q_c = CompositeQuantizer(2, 8, 6, constant_weight=2.0, refine_iters=5)
    q_c.solve_codebooks(*(ranks.all_reduce_sum(t) for t in q_c.normal_equations(x[s:e], codes[s:e])))
    q_c.update_epsilon(codes[s:e], ranks.all_reduce_sum)
    q_c.refine_codebooks(x[s:e], codes[s:e], reduce=ranks.all_reduce_sum)
    res = {"world": ranks.world, "gather_equal": bool(torch.equal(gathered, full)),
           "codebook_max_diff": float((q.codebooks_t - q_one.codebooks_t).abs().max()),
           "constant_codebook_max_diff": float((q_c.codebooks_t - q_one_c.codebooks_t).abs().max()),
           "constant_epsilon_diff": abs(q_c.epsilon - q_one_c.epsilon),
           "mean": ranks.mean(full[ranks.span(n)[0]:ranks.span(n)[1]].sum(1), n), "mean_one": float(full.sum(1).mean())}
    if info.is_main:
        with open(f"{out}/collectives.json", "w") as f:
            json.dump(res, f)


def main(root, out, models):
    ddp.init_from_env("cpu")  # joined here, so each train() below reuses the group
    check_collectives(out)
    for m in models.split(","):
        train(config(root, m), f"{out}/{m}")
    # each rank reads its own tar shards (written by the test) and the batch is gathered
    train(config(root, "twotower", "data.loader=shards", f"data.shards={out}/shards", "data.workers=1"),
          f"{out}/from-shards")
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
