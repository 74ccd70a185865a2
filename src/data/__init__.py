"""Data for AsConvSR: MATLAB-compatible bicubic (``imresize``), the deterministic
training pipeline and evaluation pairs (``dataset``), and the reproducible build of
data/train and data/val from registry packages (``prepare``). Image files are read by
src/images.py, which evaluation and infer.py share. See docs/data.md."""
