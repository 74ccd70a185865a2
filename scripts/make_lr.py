#!/usr/bin/env python
"""Write DIV2K-layout LR folders once, with MATLAB-compatible bicubic (imresize_uint8).

    python scripts/make_lr.py --hr_dir data/train --scale 2 3 --out_dir data/train_LR_bicubic

makes data/train_LR_bicubic/X2/<name>x2.png and X3/<name>x3.png (HR mod-cropped to the
scale first, as the training pipeline does); pass the parent or the X2 folder as
--train_lr_dir. Reruns keep existing files (--overwrite to redo).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import src  # noqa: E402,F401  (environment defaults; no mindspore needed here)
from src.data.prepare import cli  # noqa: E402

if __name__ == "__main__":
    sys.exit(cli(["make_lr"] + sys.argv[1:], "make_lr"))
