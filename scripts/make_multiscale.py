#!/usr/bin/env python
"""Write a multi-scale training folder once: each HR photo plus copies downscaled by
MATLAB-compatible bicubic (imresize_uint8), as BasicSR does for DF2K.

    python scripts/make_multiscale.py --hr_dir data/train --factors 0.75 0.5 \\
        --out_dir data/train_multiscale

makes data/train_multiscale/<name>.png, <name>_s75.png and <name>_s50.png; pass it as
--train_dir (LR is then made at start-up, or write it with scripts/make_lr.py). Reruns
keep existing files (--overwrite to redo).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import src  # noqa: E402,F401  (environment defaults; no mindspore needed here)
from src.data.prepare import cli  # noqa: E402

if __name__ == "__main__":
    sys.exit(cli(["make_multiscale"] + sys.argv[1:], "make_multiscale"))
