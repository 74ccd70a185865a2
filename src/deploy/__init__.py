"""Deployment: export-friendly AsConvSR Cells, exported-model runners, tiled inference.

    network.py   WholeImageNet / TileNet / StatsNet: a trained AsConvSR wired for export
    metadata.py  the JSON sidecar (and ONNX metadata_props) that describes an export
    exporter.py  export + verification (export.py is its command line)
    runners.py   one interface over a checkpoint, a MINDIR and an ONNX model
    predictor.py uint8 image in, uint8 image out through a runner: eval.py and validation
    tiling.py    whole-image-exact tiled inference with bounded memory
    video.py     frame-by-frame video upscaling
See docs/deploy.md.
"""
