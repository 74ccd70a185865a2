"""The training step: Charbonnier (or MSE) loss, a learning-rate schedule, Adam, one Cell.

The step runs inside a Cell's ``construct`` (``nn.TrainOneStepCell``): measured here,
that is about 2.5x faster in graph mode than a ``value_and_grad`` function under
``@ms.jit``. TrainOneStepCell also inserts the data-parallel gradient all-reduce
(mean over ranks) when the parallel context is DATA_PARALLEL.
"""
import math

import mindspore as ms
from mindspore import nn, ops

from src.config import ConfigError
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


class LearningRate(nn.learning_rate_schedule.LearningRateSchedule):
    """The learning rate per optimizer step t (Adam's global step, restored on resume, so
    a resumed run continues the same curve): a linear warm-up times one of

        step       base * gamma ** floor(t / decay_step)            (the paper: 5e-4 halved
                                                                      every 2e5 of 1e6 steps)
        multistep  base * gamma ** (number of milestones <= t)
        cosine     lr_min + (base - lr_min) * (1 + cos(pi * min(t, total) / total)) / 2

    ``cosine`` fits the run's own length (``total_iters``), as BasicSR's small-model
    recipes do (CosineAnnealingRestartLR with one period, eta_min 1e-7); the paper's
    step decay is made for 1e6 iterations, so a shorter run would end at a high rate.

    Why a warm-up (our addition, ``warmup_iters``): Adam's first steps move every weight
    by about +-lr whatever the gradient's size, so in a bias-free ReLU network they can
    push a whole layer negative before the correction becomes useful; the output is then
    exactly the nearest-neighbour residual and no gradient ever revives it. Measured on
    x3 (batch 8, LR 48) at lr 5e-4: without warm-up the last block conv had <1% live
    units after 25 steps, for the assembled and the plain block alike.
    """

    def __init__(self, base_lr, kind="step", warmup=0, decay_step=1, gamma=1.0,
                 milestones=(), total=1, lr_min=0.0):
        super().__init__()
        self.kind = kind
        self.base_lr, self.lr_min, self.gamma = float(base_lr), float(lr_min), float(gamma)
        self.warmup = max(int(warmup), 1)
        self.decay_step, self.total = int(decay_step), max(int(total), 1)
        self.milestones = tuple(int(m) for m in milestones)
        # (M,) int32; a dummy milestone no step reaches when there are none
        self.milestone_tensor = ms.Tensor(list(self.milestones) or [2 ** 31 - 1], ms.int32)

    @classmethod
    def from_config(cls, cfg):
        if cfg.lr_schedule == "multistep" and not cfg.lr_milestones:
            raise ConfigError("lr_schedule multistep needs lr_milestones, e.g. "
                              "--lr_milestones 100000,150000 (or use lr_schedule step/cosine)")
        if cfg.lr_schedule == "cosine" and cfg.lr_min > cfg.lr:
            raise ConfigError(f"lr_schedule cosine runs from lr down to lr_min, but lr_min "
                              f"{cfg.lr_min:g} > lr {cfg.lr:g}; lower --lr_min")
        return cls(cfg.lr, cfg.lr_schedule, cfg.warmup_iters, cfg.lr_decay_step,
                   cfg.lr_decay_gamma, cfg.lr_milestones, cfg.total_iters, cfg.lr_min)

    def construct(self, global_step):
        step = global_step.astype(ms.float32).reshape(())
        ramp = ops.minimum((step + 1.0) / self.warmup, 1.0)
        if self.kind == "cosine":
            progress = ops.minimum(step, float(self.total)) / self.total
            # (1 + cos(pi p)) / 2 written as cos(pi p / 2)^2: float32 keeps its precision
            # near the end, where 1 + cos cancels
            decayed = self.lr_min + (self.base_lr - self.lr_min) * ops.square(
                ops.cos(progress * (math.pi / 2)))
        elif self.kind == "multistep":
            passed = (global_step.reshape(()) >= self.milestone_tensor).astype(ms.float32).sum()
            decayed = self.base_lr * ops.pow(self.gamma, passed)
        else:
            decayed = self.base_lr * ops.pow(self.gamma, ops.floor(step / self.decay_step))
        return ramp * decayed

    def value_at(self, iteration):
        """The same schedule in Python, for logging and tests."""
        ramp = min((iteration + 1) / self.warmup, 1.0)
        if self.kind == "cosine":
            progress = min(iteration, self.total) / self.total
            return ramp * (self.lr_min + (self.base_lr - self.lr_min) *
                           math.cos(math.pi / 2 * progress) ** 2)
        if self.kind == "multistep":
            return ramp * self.base_lr * self.gamma ** sum(iteration >= m for m in self.milestones)
        return ramp * self.base_lr * self.gamma ** (iteration // self.decay_step)


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
    """(training step Cell, LearningRate) for ``net`` with the config's loss and Adam.
    amp_level O0: ``nn.TrainOneStepCell``, output the loss; O1/O2: the float16 network
    (output cast to float32 before the loss) in a loss-scaled step whose output is
    (loss, overflow, loss scale): src/engine/amp.py. :func:`step_result` reads either."""
    schedule = LearningRate.from_config(cfg)
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
