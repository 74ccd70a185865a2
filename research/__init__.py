"""Research tools (diagnostics and experiment runners); see research/README.md."""
import argparse


def checkpoint_probe_parser(description, crop, crop_help):
    """The flags every checkpoint diagnostic takes: the model file, its config, the
    photos to probe and the crop side."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", "--ckpt_path", dest="ckpt_path", required=True,
                        help="checkpoint (.ckpt) (--ckpt_path: the same)")
    parser.add_argument("--config_path", default=None)
    parser.add_argument("--data_dir", default="data/val")
    parser.add_argument("--crop", type=int, default=crop, help=crop_help)
    return parser
