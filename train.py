"""Train AsConvSR: ``python train.py [--config_path configs/asconvsr_x3.yaml] [--key value ...]``.

Every key of default_config.yaml is a flag (``python train.py --help`` lists them with
their help text). Extra flags: ``--resume RUN/latest.ckpt`` continues a run exactly
where its checkpoint left it; ``--init_weights CKPT`` (a config key) fine-tunes from a
checkpoint's weights with a fresh optimizer and schedule. A run folder that already
holds a run is refused unless ``--resume`` continues it or ``--overwrite`` replaces it.
Data-parallel:
``msrun ... train.py --distribute true`` (scripts/run_distribute_train_gpu.sh).
"""
import sys

import src  # noqa: F401  (applies the runtime environment before mindspore loads)
from src.config import parse_config, run_main


def extra_args(parser):
    parser.add_argument("--resume", default=None,
                        help="latest.ckpt of a run to continue (weights, Adam state, iteration)")
    parser.add_argument("--overwrite", action="store_true",
                        help="start afresh in an --output_dir that already holds a run, "
                             "deleting its latest.ckpt, best.ckpt, history.json and curve.png")
    parser.add_argument("--dump_final_weights", default=None,
                        help="folder where every rank writes its final weights as rankN.ckpt "
                             "(to check data-parallel replicas agree)")


def main():
    cfg, extras = parse_config(description=__doc__.splitlines()[0], extra_args=extra_args)
    from src.runtime import setup
    # msrun gives every rank its own DEVICE_ID (setup reads it); one device: device_id
    setup(cfg.device_target, cfg.mode, device_id=None if cfg.distribute else cfg.device_id,
          seed=cfg.seed)
    from src.engine.trainer import train, TrainingStopped
    try:
        train(cfg, resume=extras.resume, dump_final_weights=extras.dump_final_weights,
              overwrite=extras.overwrite)
    except TrainingStopped as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    run_main(main)
