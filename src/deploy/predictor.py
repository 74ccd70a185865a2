"""uint8 image in, uint8 image out, through any runner (src/deploy/runners.py): how
eval.py, the training loop's validation and the challenge runtime predict.

    predict = Predictor(open_model(path, cfg), tile=0)     # .ckpt, .mindir or .onnx
    sr = predict(lr)                   # (H, W, 3) uint8 -> (sH, sW, 3) uint8
    predict.last_forward_ms            # time inside the graphs for that image

The image goes through the same ``upscale`` as infer.py's (src/deploy/tiling.py): NCHW
float32 in [0, 1], edge-padded at the bottom/right to multiples of the unshuffle factor,
whole or in tiles (equal up to float rounding), output cropped to exactly s x the LR
size; then rounded as a saved PNG holds it (src.images.to_uint8). So a checkpoint, its
MINDIR and its ONNX export are scored by one piece of code, and differ only by what their
runtimes compute.
"""
import numpy as np

from src.deploy.tiling import upscale
from src.images import from_network_output, to_network_input, to_uint8


class Predictor:
    """``predict(lr_uint8) -> sr_uint8`` through ``runner``; ``tile``: core side in LR
    pixels as infer.py's --tile (0: whole image)."""

    def __init__(self, runner, tile=0):
        self.runner = runner
        self.tile = int(tile)
        self.last_forward_ms = None
        self._shapes_run = set()

    def __call__(self, lr):
        x = to_network_input(np.asarray(lr, np.float32) / 255.0)      # (1, 3, H, W)
        before = self.runner.forward_ms
        out = upscale(self.runner, x, self.tile)                     # (1, 3, sH, sW)
        self.last_forward_ms = self.runner.forward_ms - before
        self._shapes_run.add(self._padded_shape(lr))
        return to_uint8(from_network_output(out))

    def _padded_shape(self, lr):
        u = self.runner.unshuffle
        return -(-lr.shape[0] // u) * u, -(-lr.shape[1] // u) * u

    def needs_warm_up(self, lr):
        """True before the first run, and for an input size not run yet when the runner
        compiles per size (MindSpore graph mode, MINDIR)."""
        if not self._shapes_run:
            return True
        return self.runner.compiles_per_shape and self._padded_shape(lr) not in self._shapes_run

    def warm_up(self, lr):
        """An untimed run on ``lr`` when :meth:`needs_warm_up` says so."""
        if self.needs_warm_up(lr):
            self(lr)

    def describe(self):
        """What eval.py's table and JSON say about how the images were predicted."""
        return {"model": self.runner.path, "model_format": self.runner.kind,
                "inference": inference_mode(self.runner, self.tile),
                "tile": self.tile if self.tile > 0 and self.runner.can_tile else 0,
                "precision": self.runner.precision, "engine": self.runner.engine}

    def label(self):
        """'onnx, whole image, float32': one line's worth of :meth:`describe`."""
        about = self.describe()
        return f"{about['model_format']}, {about['inference']}, {about['precision']}"


def inference_mode(runner, tile):
    """'whole image', or 'tiles of N LR px' (images larger than one window)."""
    if tile <= 0:
        return "whole image"
    if not runner.can_tile:
        return "whole image (this model cannot tile)"
    return f"tiles of {tile} LR px + halo {runner.halo}"


def predictor_for_network(net, unshuffle=None):
    """A whole-image :class:`Predictor` around the AsConvSR ``net`` in memory (training's
    validation): the checkpoint runner over its own Parameters."""
    from src.deploy.runners import CheckpointRunner
    if unshuffle is not None and int(unshuffle) != net.cfg.unshuffle:
        raise ValueError(f"unshuffle {unshuffle} given for a network built with "
                         f"unshuffle {net.cfg.unshuffle}")
    return Predictor(CheckpointRunner("(network in memory)", None, net=net))
