"""The training step: Charbonnier (or MSE) loss, step-decay learning rate, Adam, one Cell.

The step runs inside a Cell's ``construct`` (``nn.TrainOneStepCell``): measured here,
that is about 2.5x faster in graph mode than a ``value_and_grad`` function under
``@ms.jit``. TrainOneStepCell also inserts the data-parallel gradient all-reduce
(mean over ranks) when the parallel context is DATA_PARALLEL.
"""
import mindspore as ms
from mindspore import nn, ops

from src.engine.amp import LossScaledTrainStep, loss_scale_cell, mixed_precision


class CharbonnierLoss(nn.Cell):
    """mean(sqrt((sr - hr)^2 + eps^2)): a differentiable L1 (the paper's loss)."""

    def __init__(self, eps=1e-3):
        super().__init__()
        self.eps_squared = float(eps) ** 2

    def construct(self, sr, hr):
        diff = sr - hr
        per_pixel = ops.sqrt(diff * diff + self.eps_squared)           # (B, 3, sH, sW)
        # The mean of per-sample means (equal sizes: the same number up to float
        # rounding). MindSpore's CPU ReduceMean over all axes of a 4-D tensor has a slow
        # Tile gradient; this form takes about half its time (docs/performance.md).
        return per_pixel.reshape(per_pixel.shape[0], -1).mean(axis=1).mean()


class MSELoss(nn.Cell):
    """mean((sr - hr)^2): the loss PSNR measures. Our addition (``loss: mse``), for a last
    fine-tuning stage, as lightweight-SR challenge entries often end with an L2 stage
    after L1 training; the row-mean reduction is CharbonnierLoss's."""

    def construct(self, sr, hr):
        diff = sr - hr
        squared = diff * diff                                            # (B, 3, sH, sW)
        return squared.reshape(squared.shape[0], -1).mean(axis=1).mean()


def make_loss(cfg):
    """The loss Cell the config's ``loss`` key names."""
    if cfg.loss == "mse":
        return MSELoss()
    return CharbonnierLoss(cfg.charbonnier_eps)


class StepDecayLR(nn.learning_rate_schedule.LearningRateSchedule):
    """lr(t) = base_lr * min(1, (t + 1) / warmup) * gamma ** floor(t / decay_step), t the
    optimizer's global step (paper: 5e-4 halved every 2e5 iterations, no warm-up).
    Restored with the optimizer on resume.

    Why a warm-up (our addition, ``warmup_iters``): Adam's first steps move every weight
    by about +-lr whatever the gradient's size, so in a bias-free ReLU network they can
    push a whole layer negative before the correction becomes useful; the output is then
    exactly the nearest-neighbour residual and no gradient ever revives it. Measured on
    x3 (batch 8, LR 48) at lr 5e-4: without warm-up the last block conv had <1% live
    units after 25 steps, for the assembled and the plain block alike.
    """

    def __init__(self, base_lr, decay_step, gamma, warmup=0):
        super().__init__()
        self.base_lr = float(base_lr)
        self.decay_step = int(decay_step)
        self.gamma = float(gamma)
        self.warmup = max(int(warmup), 1)

    def construct(self, global_step):
        stage = ops.floor_div(global_step, self.decay_step).astype(ms.float32)
        ramp = ops.minimum((global_step + 1).astype(ms.float32) / self.warmup, 1.0)
        return self.base_lr * ramp * ops.pow(self.gamma, stage)

    def value_at(self, iteration):
        """The same schedule in Python, for logging."""
        ramp = min((iteration + 1) / self.warmup, 1.0)
        return self.base_lr * ramp * self.gamma ** (iteration // self.decay_step)


class TemperatureSchedule:
    """The control modules' softmax temperature per iteration: fixed at ``end``, or with
    ``anneal_iters`` N > 0 annealed linearly from ``start`` (dynamic convolution, Chen et
    al. 2020: 30 -> 1; per iteration as ODConv's get_temperature):

        T(it) = end + (start - end) * max(0, 1 - it / N)

    A pure function of the iteration, so a resumed run continues the same schedule."""

    def __init__(self, end, start, anneal_iters):
        self.end, self.start, self.anneal_iters = float(end), float(start), int(anneal_iters)

    @classmethod
    def from_config(cls, cfg):
        return cls(cfg.temperature, cfg.temperature_start, cfg.temperature_anneal_iters)

    def value_at(self, iteration):
        if self.anneal_iters <= 0:
            return self.end
        return self.end + (self.start - self.end) * max(0.0, 1.0 - iteration / self.anneal_iters)

    def changes_at(self, iteration):
        """Whether step ``iteration`` (0-based) needs T set: while annealing, and once at
        the end value."""
        return 0 < self.anneal_iters and iteration <= self.anneal_iters


def build_train_step(net, cfg):
    """(training step Cell, StepDecayLR) for ``net`` with the config's loss and Adam.
    amp_level O0: ``nn.TrainOneStepCell``, output the loss; O1/O2: the float16 network
    (output cast to float32 before the loss) in a loss-scaled step whose output is
    (loss, overflow, loss scale): src/engine/amp.py. :func:`step_result` reads either."""
    schedule = StepDecayLR(cfg.lr, cfg.lr_decay_step, cfg.lr_decay_gamma, cfg.warmup_iters)
    optimizer = nn.Adam(net.trainable_params(), learning_rate=schedule, beta1=cfg.beta1,
                        beta2=cfg.beta2, eps=1e-8, weight_decay=cfg.weight_decay)
    loss_net = nn.WithLossCell(mixed_precision(net, cfg.amp_level), make_loss(cfg))
    if cfg.amp_level == "O0":
        train_step = nn.TrainOneStepCell(loss_net, optimizer)
    else:
        train_step = LossScaledTrainStep(loss_net, optimizer, loss_scale_cell(cfg.loss_scale))
    train_step.set_train()
    return train_step, schedule


def step_result(output):
    """(loss, skipped) from a training step's output: ``skipped`` is True when a
    loss-scaled step found inf/NaN gradients and left the weights alone."""
    if isinstance(output, (tuple, list)):
        loss, overflow, _ = output
        return float(loss.asnumpy()), bool(overflow.asnumpy())
    return float(output.asnumpy()), False


def current_loss_scale(train_step):
    """The loss scale a loss-scaled step uses now, or None at amp_level O0."""
    scale = getattr(train_step, "scale_sense", None)
    return None if scale is None else float(scale.asnumpy())
