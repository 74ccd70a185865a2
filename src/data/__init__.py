"""Data for AsConvSR: MATLAB-compatible bicubic (``imresize``), robust image files
(``images``), the deterministic training pipeline and evaluation pairs (``dataset``),
and the reproducible build of data/train and data/val from registry packages
(``prepare``). See docs/data.md."""
