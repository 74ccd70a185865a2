"""Mixed precision: MindSpore's own AMP conversion and loss-scale cells, in float32 where
float16 would fail.

``amp_level`` (config key):
* O0: float32 everywhere (default; the training step is plain ``nn.TrainOneStepCell``).
* O1: MindSpore's operator-level white list: convolutions, matmuls and batched matmuls
  in float16, Softmax/Exp/Pow/normalisations in float32, other operators in their
  inputs' type (``auto_mixed_precision(net, "auto")``, graph mode). MindSpore 2.10's own
  "O1" converts by rewriting the network's source; on AsConvSR that fails (the
  generated file has a relative import) and it leaves a ``rewritten_network/`` folder
  in the working directory, so the operator-level form stands in for it.
* O2: MindSpore's O2 (``auto_mixed_precision(net, "O2")``): every cell in float16
  (``to_float``) except BatchNorm/LayerNorm (kept float32), parameters stay float32
  master weights.

Either way the network output is cast to float32 before the loss: Charbonnier's
eps^2 = 1e-6 is below float16's smallest normal number (6.1e-5), and the mean over a
batch of 256x256 patches would lose digits in float16. With O1/O2 the step is
``nn.TrainOneStepWithLossScaleCell``: the loss is multiplied by the loss scale before
the backward pass, gradients are divided by it, and a step whose gradients hold
inf/NaN is skipped (no weight or Adam update); ``loss_scale: dynamic`` then halves the
scale (``nn.DynamicLossScaleUpdateCell``), a number keeps it fixed
(``nn.FixedLossScaleUpdateCell``).
"""
import mindspore as ms
from mindspore import nn, ops

from src.config import ConfigError, loss_scale_value

# our amp_level -> MindSpore's auto_mixed_precision level (see the module docstring)
MINDSPORE_AMP_LEVEL = {"O1": "auto", "O2": "O2"}
# loss_scale: dynamic starts at 2^16 and doubles after 2000 steps without overflow
# (PyTorch GradScaler's defaults; MindSpore's DynamicLossScaleManager starts at 2^24)
DYNAMIC_INITIAL_SCALE, DYNAMIC_FACTOR, DYNAMIC_WINDOW = 2.0 ** 16, 2, 2000


class Float32Output(nn.Cell):
    """``net``'s output cast to float32 (parameter names unchanged: no prefix)."""

    def __init__(self, net):
        super().__init__(auto_prefix=False)
        self.net = net

    def construct(self, *inputs):
        return ops.cast(self.net(*inputs), ms.float32)


def mixed_precision(net, amp_level):
    """``net`` converted for ``amp_level`` (O0: ``net`` itself), output float32. The
    cells of ``net`` are converted in place (O2 sets their to_float flags), so ``net``
    keeps working as the handle for temperature and checkpoints."""
    if amp_level == "O0":
        return net
    if amp_level not in MINDSPORE_AMP_LEVEL:
        raise ConfigError(f"amp_level must be one of O0, O1, O2, got {amp_level!r}")
    return Float32Output(ms.amp.auto_mixed_precision(net, MINDSPORE_AMP_LEVEL[amp_level]))


def half_precision_inference(net, flag="--fp16"):
    """``net`` for float16 inference on the current device (MindSpore's O2, float32
    output); refused with one line on CPU."""
    require_accelerator(flag)
    return mixed_precision(net, "O2")


def require_accelerator(flag, device=None):
    """ConfigError naming ``flag`` and the device when the device is the CPU."""
    device = device or ms.get_context("device_target")
    if str(device).upper() == "CPU":
        raise ConfigError(f"{flag} runs on GPU or Ascend, but the device is CPU; pass "
                          f"--device_target GPU (or Ascend), or drop {flag}")


def loss_scale_cell(loss_scale):
    """The loss-scale update cell for the config's ``loss_scale``."""
    value = loss_scale_value(loss_scale)
    if value is None:
        raise ConfigError(f"config key 'loss_scale' must be dynamic or a number > 0, "
                          f"got {loss_scale!r}")
    if value == "dynamic":
        return nn.DynamicLossScaleUpdateCell(DYNAMIC_INITIAL_SCALE, DYNAMIC_FACTOR,
                                             DYNAMIC_WINDOW)
    return nn.FixedLossScaleUpdateCell(value)


class LossScaledTrainStep(nn.TrainOneStepWithLossScaleCell):
    """MindSpore's loss-scaled step; returns (loss, overflow, loss scale).

    Why a subclass: on a CPU target MindSpore 2.10 takes the Ascend overflow check
    (NPUGetFloatStatusV2, which has no CPU kernel), so there the gradients are tested
    with ``ms.amp.all_finite`` instead. In data parallel the gradients are already
    all-reduced, so an inf on any rank is an inf on every rank. GPU and Ascend keep
    MindSpore's own check.
    """

    def __init__(self, network, optimizer, scale_sense):
        super().__init__(network, optimizer, scale_sense)
        self.cpu_target = ms.get_context("device_target") == "CPU"

    def get_overflow_status(self, status, compute_output):
        if self.cpu_target:
            return ops.logical_not(ms.amp.all_finite(compute_output))
        return super().get_overflow_status(status, compute_output)
