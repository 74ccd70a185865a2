"""Watch the ReLUs during the first training steps: the live fraction of every ReLU layer.

    python research/early_relu_trace.py --config_path configs/asconvsr_x3.yaml \
        --train_lr_dir data/train_LR_bicubic --batch_size 8 --lr_patch_size 48 \
        --warmup_iters 0 --steps 100 --every 25

Trains with train.py's own step (src/engine/train_step.py) and data pipeline, and every
``--every`` steps prints, for each ReLU, the fraction of positive outputs on the first
batch (kept fixed as a probe). A layer that drops to ~0 has collapsed (research/census.py).
Any config key can be overridden as in train.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import src  # noqa: E402,F401  (runtime environment before mindspore loads)
from src.config import parse_config, run_main  # noqa: E402


def extra_args(parser):
    parser.add_argument("--steps", type=int, default=100, help="training steps to run")
    parser.add_argument("--every", type=int, default=25, help="print every this many steps")


def main(argv=None):
    cfg, args = parse_config(argv, description=__doc__.split("\n")[0], extra_args=extra_args)
    from src.runtime import setup
    setup(cfg.device_target, cfg.mode, seed=cfg.seed)
    import numpy as np
    from src.data.dataset import create_train_batches, resolve_num_workers
    from src.engine.train_step import build_train_step
    from src.model.asconvsr import AsConvSRConfig, build_model
    from research.census import relu_census
    net = build_model(AsConvSRConfig.from_dict(cfg))
    train_step, _ = build_train_step(net, cfg)
    batches = create_train_batches(
        cfg.train_dir, cfg.scale, cfg.lr_patch_size, cfg.batch_size,
        lr_dir=cfg.train_lr_dir or None, seed=cfg.seed,
        num_workers=resolve_num_workers(cfg.num_workers, cfg.device_target))
    probe, _ = next(batches)

    def live(rows):
        return " ".join(f"{row['positive']:.3f}" for row in rows)

    rows = relu_census(net, probe)
    print(f"step | mean loss | positive fraction per ReLU "
          f"({' '.join(row['name'] for row in rows)})")
    print(f"0 | - | {live(rows)}", flush=True)
    losses = []
    for step in range(1, args.steps + 1):
        lr_batch, hr_batch = next(batches)
        losses.append(float(train_step(lr_batch, hr_batch).asnumpy()))
        if step % args.every == 0:
            print(f"{step} | {np.mean(losses[-args.every:]):.5f} | {live(relu_census(net, probe))}", flush=True)


if __name__ == "__main__":
    run_main(main)
