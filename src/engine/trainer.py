"""Iteration-based training loop: progress, validation, checkpoints, resume, DDP.

Run folder (``cfg.output_dir``):
    config.yaml     the resolved config (loadable with --config_path)
    latest.ckpt     network + Adam state + iteration: the resume point (atomic write).
                    Written one step late: a checkpoint becomes latest.ckpt once the next
                    step's loss is finite, so the kept one never holds weights that
                    already gave inf/NaN (the last iteration's is written at once)
    best.ckpt       network weights with the best validation figure so far (best_metric
                    of the first val set: PSNR-Y unless the config says otherwise)
    history.json    logged losses and validation figures (survives resume)
    train.log       the progress lines
    command.txt     the command line of every start and resume, after a comment line
                    with the date, the git commit (and whether the tree had local
                    changes) and the MindSpore version that ran it
    curve.png       loss and validation PSNR against iterations
    events.out.tfevents.*  the same curves for TensorBoard (key tensorboard; see
                    src/engine/tensorboard.py)

A folder that already holds a run (latest.ckpt, best.ckpt or history.json) is only
reused with ``resume`` (continue it) or ``overwrite`` (replace it). Everything a start
needs (config values, data folders, the resume or init checkpoint) is checked before
the first file is written, so a failed start leaves an existing run folder as it was.

Resume reproduces an uninterrupted run: the data stream is a pure function of
(seed, sample index) and restarts at the checkpoint's iteration, and the checkpoint
holds everything the step depends on (weights, Adam moments and step, beta powers).
"""
import atexit
import json
import math
import os
import shlex
import subprocess
import sys
import time

import numpy as np
import mindspore as ms

from src.checkpoint import (CheckpointError, load_model_weights, parameter_mismatch,
                            read_checkpoint, save_checkpoint_atomic)
from src.config import ConfigError, save_config
from src.data.degrade import Degradation
from src.engine.tensorboard import Scalars, event_files
from src.engine.train_step import (TemperatureSchedule, build_train_step, current_loss_scale,
                                   step_result)
from src.files import atomic_write, sha256_of, temporary_file
from src.model.asconvsr import AsConvSRConfig, build_model



def finite_json(value):
    """``value`` with every inf/NaN float replaced by None: JSON has no Infinity or NaN
    (Python writes them, but jq, JavaScript and strict parsers refuse the file). A
    diverged loss or the PSNR of identical images is then null in history.json."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(item) for item in value]
    return value

class TrainingStopped(RuntimeError):
    """Training cannot go on (non-finite loss); the message says what was kept."""


def init_distributed(cfg):
    """(rank, group_size). Under msrun with cfg.distribute: init() + DATA_PARALLEL."""
    if not cfg.distribute:
        return 0, 1
    from mindspore.communication import init, get_rank, get_group_size
    if "MS_WORKER_NUM" not in os.environ and "RANK_SIZE" not in os.environ:
        raise ConfigError("distribute is true but no launcher started this process; run "
                         "under msrun (scripts/run_distribute_train_gpu.sh) or drop --distribute")
    init()
    rank, group_size = get_rank(), get_group_size()
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL,
                                 gradients_mean=True, device_num=group_size)
    return rank, group_size


class RunFolder:
    """Files of one training run; only rank 0 writes, and only after :meth:`prepare`."""

    RUN_FILES = ("latest.ckpt", "best.ckpt", "history.json")   # what marks a run

    def __init__(self, path, writer):
        self.path = path
        self.writer = writer
        self.pending = None   # the newest checkpoint until its next step's loss is finite

    def file(self, name):
        return os.path.join(self.path, name)

    def check_reuse(self, resume, overwrite):
        """ConfigError when the folder holds a run and neither ``resume`` nor
        ``overwrite`` says what to do with it."""
        found = [name for name in self.RUN_FILES if os.path.isfile(self.file(name))]
        if found and not resume and not overwrite:
            raise ConfigError(
                f"output_dir '{self.path}' already holds a run ({', '.join(found)}); continue "
                f"it with --resume {self.file('latest.ckpt')}, pick another --output_dir, "
                f"or pass --overwrite to replace it")

    def prepare(self, replace):
        """Create the folder, prove it writable (an OSError names the path), and with
        ``replace`` remove the old run's files. No file is removed by a fixed or
        pattern name: every temporary file this code writes has a made-up name
        (src.files.atomic_write) and is removed by the code that made it."""
        if not self.writer:
            return
        os.makedirs(self.path, exist_ok=True)
        os.remove(temporary_file(self.file("write-test")))     # an OSError names the folder
        atexit.register(self.discard_pending)     # Ctrl-C, an exception: no stray pending file
        stale = self.RUN_FILES + ("curve.png",) if replace else ()
        for name in stale:
            if os.path.isfile(self.file(name)):
                os.remove(self.file(name))
        for path in event_files(self.path) if replace else ():   # the replaced run's curves
            os.remove(path)

    def save_pending(self, train_step, iteration):
        """Write this iteration's checkpoint beside latest.ckpt, not over it, under a
        name no other file has."""
        self.discard_pending()
        self.pending = temporary_file(self.file("latest.ckpt"))
        save_checkpoint_atomic(train_step, self.pending, append_dict={"iteration": iteration})

    def promote_pending(self):
        """The pending checkpoint's weights gave a finite loss: it becomes latest.ckpt."""
        os.replace(self.pending, self.file("latest.ckpt"))
        self.pending = None

    def discard_pending(self):
        if self.pending and os.path.isfile(self.pending):
            os.remove(self.pending)
        self.pending = None

    def log(self, line):
        if not self.writer:
            return
        print(line, flush=True)
        with open(self.file("train.log"), "a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def save_history(self, history):
        if self.writer:
            with atomic_write(self.file("history.json")) as tmp:
                with open(tmp, "w", encoding="utf-8") as handle:
                    json.dump(finite_json(history), handle, allow_nan=False)

    def load_history(self):
        path = self.file("history.json")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                history = json.load(handle)
            if "best_psnr_y" in history:            # written before best_metric existed
                history["best_metric"] = "psnr_y"
                history["best_value"] = history.pop("best_psnr_y")
            if history.get("best_value", -1.0) is None:      # an inf written as null
                history["best_value"] = math.inf
            return history
        return None                                     # a run without validation yet


def new_history(best_metric):
    return {"loss": [], "val": [], "best_metric": best_metric, "best_value": -1.0,
            "best_iteration": 0}


BEST_LABELS = {"psnr_y": "PSNR-Y", "psnr_rgb": "PSNR-RGB", "ssim_y": "SSIM-Y"}


def format_eta(seconds):
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days}d{hours:02d}h{minutes:02d}m" if days else f"{hours:02d}:{minutes:02d}:{secs:02d}"


def data_rate_text(batches, wait_share):
    """'data N samples/s, wait W%': what the batch maker can deliver per second of its
    own work (per rank; None with dataset workers) and the share of the training time
    spent waiting for a batch. The step is data-bound when the wait is not near 0%."""
    rate = batches.samples_per_second()
    made = f"data {rate:.0f} samples/s/rank, " if rate else "data "
    return f"{made}wait {100 * wait_share:.0f}%"


def amp_text(train_step, overflow_skips):
    """'loss scale S, N skipped | ' with mixed precision (steps skipped on an fp16
    overflow in this log window), '' at amp_level O0."""
    scale = current_loss_scale(train_step)
    return "" if scale is None else f"loss scale {scale:g}, {overflow_skips} skipped | "


def resume_state(train_step, path):
    """Load weights + optimizer state; return the iteration the checkpoint was taken at."""
    entries = read_checkpoint(path)
    if "iteration" not in entries or "global_step" not in entries:
        raise CheckpointError(f"'{path}' has no training state (iteration and Adam state); "
                              f"resume from a latest.ckpt written by train.py, not a "
                              f"weights-only best.ckpt")
    own = {p.name: p for p in train_step.get_parameters()}
    missing, mismatched = parameter_mismatch(own, entries)
    if missing or mismatched:
        first = f"'{missing[0]}' missing" if missing else mismatched[0]
        raise CheckpointError(f"'{path}' does not match this config ({first}); resume with "
                              f"the run's own config.yaml (--config_path)")
    ms.load_param_into_net(train_step, {n: entries[n] for n in own if n in entries},
                           strict_load=True)
    return int(entries["iteration"].asnumpy())


def val_sets(cfg):
    """[(name, hr folder, lr folder or None)] of the comma lists ``val_dir`` and
    ``val_lr_dir``. A set's name is its folder's name (made unique with its position),
    the name it is logged and recorded under; the first set chooses best.ckpt."""
    from src.data.dataset import folder_pairs
    pairs = folder_pairs(cfg.val_dir, cfg.val_lr_dir, keys=("val_dir", "val_lr_dir"))
    names = [os.path.basename(os.path.normpath(folder)) or "val" for folder, _ in pairs]
    names = [name if names.count(name) == 1 else f"{name}_{k + 1}"
             for k, name in enumerate(names)]
    return [(name, hr, lr) for name, (hr, lr) in zip(names, pairs)]


class Validator:
    """Whole-image validation on each val set with the metric code eval.py uses, LR and
    crop as ``val_protocol`` says (eval.py's standard or challenge protocol).
    Calling it returns {set name: mean metrics}, in the order of ``val_dir``."""

    def __init__(self, cfg, net):
        from src.data.dataset import load_eval_pairs
        from src.deploy.predictor import predictor_for_network
        from src.evaluate import measurable_pairs
        from src.data.degrade import challenge_lr
        challenge = cfg.val_protocol == "challenge"
        self.scale = cfg.scale
        self.crop_border = cfg.val_crop_border if cfg.val_crop_border >= 0 else (
            0 if challenge else cfg.scale)
        self.sets = {}
        for name, folder, lr_folder in val_sets(cfg):
            pairs, _ = load_eval_pairs(folder, cfg.scale, lr_folder,
                                       make_lr=challenge_lr if challenge else None)
            if not pairs:
                raise ConfigError(f"val_dir '{folder}' has no readable image; run "
                                  f"scripts/prepare_data.sh, drop it from --val_dir, or "
                                  f"set --val_dir ''")
            self.sets[name] = measurable_pairs(pairs, self.crop_border, folder)
        self.first = next(iter(self.sets))
        self.predict = predictor_for_network(net, cfg.unshuffle)

    def __call__(self):
        from src.evaluate import evaluate_pairs
        return {name: evaluate_pairs(self.predict, pairs, self.scale, self.crop_border)[1]
                for name, pairs in self.sets.items()}


def trim_history(history, iteration):
    """Drop what was logged after the checkpoint a resumed run restarts from."""
    history["loss"] = [entry for entry in history["loss"] if entry[0] <= iteration]
    history["val"] = [entry for entry in history["val"] if entry["iteration"] <= iteration]
    return history


def plot_curves(history, path, loss_name="charbonnier"):
    """loss and val PSNR-Y against iterations, one PNG (Agg backend, no display)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax_loss, ax_psnr) = plt.subplots(1, 2, figsize=(10, 3.6))
    if history["loss"]:
        its, losses = zip(*history["loss"])
        ax_loss.plot(its, losses, lw=0.8)
        ax_loss.set_yscale("log")
    loss_label = "MSE loss" if loss_name == "mse" else "Charbonnier loss"
    ax_loss.set(xlabel="iteration", ylabel=loss_label, title="training loss")
    # (a record from before several val sets holds one set's figures at its top level)
    records = [(v["iteration"], v.get("sets") or {"val": v}) for v in history["val"]]
    names = list(records[-1][1]) if records else []
    for name in names:           # gains, so sets of different difficulty share one axis
        points = [(it, sets[name]) for it, sets in records if name in sets]
        ax_psnr.plot([it for it, _ in points],
                     [f["psnr_y"] - f["bicubic_psnr_y"] for _, f in points], "o-", label=name)
    if names:
        ax_psnr.legend()
    ax_psnr.set(xlabel="iteration", ylabel="PSNR-Y gain over bicubic (dB)",
                title="validation (first set chooses best.ckpt)")
    fig.tight_layout()
    try:
        with atomic_write(path) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
    finally:
        plt.close(fig)


def code_version():
    """'git <commit>' of this checkout (plus ' with local changes' when the tree is
    dirty), or a reason when git cannot say: provenance for command.txt."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, timeout=10,
                               check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "git commit unknown (not a git checkout, or git missing)"
    return f"git {commit}" + (" with local changes" if dirty else "")


def provenance_line():
    """The comment line written before each command in command.txt."""
    return (f"# {time.strftime('%Y-%m-%d %H:%M:%S %Z')} | {code_version()} | "
            f"mindspore {ms.__version__}")


def train(cfg, resume=None, dump_final_weights=None, overwrite=False):
    """Train AsConvSR as ``cfg`` says (values range-checked by the config loaders).
    ``resume``: a latest.ckpt to continue; ``overwrite``: replace a run already in
    ``cfg.output_dir`` (refused otherwise). Returns the trained network."""
    rank, group_size = init_distributed(cfg)
    run = RunFolder(cfg.output_dir, writer=rank == 0)
    if run.writer:
        run.check_reuse(resume, overwrite)
    # Everything below up to run.prepare() only reads: a failed start changes no file.
    net = build_model(AsConvSRConfig.from_dict(cfg))
    train_step, schedule = build_train_step(net, cfg)
    start = resume_state(train_step, resume) if resume else 0
    init_line = None
    if cfg.init_weights and not resume:   # a resumed run's own weights supersede its init
        converted = load_model_weights(net, cfg.init_weights, unfold=True)
        init_line = (f"initial weights: {cfg.init_weights} (sha256 {sha256_of(cfg.init_weights)}); "
                     f"Adam state and lr schedule start fresh")
        if converted and cfg.reparam == "ecb":
            init_line += (f"; its {len(converted)} reparam-none kernels start the 3x3 branches "
                          f"of reparam ecb (W3 and the edge scales at zero, so each kernel "
                          f"starts as the checkpoint's)")
        elif converted:
            init_line += (f"; its reparam ecb branches are folded into {len(converted)} "
                          f"kernels (the same function), which train as reparam none")
    elif cfg.init_weights:
        init_line = (f"init_weights {cfg.init_weights} not loaded: resuming continues the run's "
                     f"own weights and Adam state from {resume}")
    history = run.load_history() if resume else None
    history = trim_history(history, start) if history else new_history(cfg.best_metric)
    if history["best_metric"] != cfg.best_metric:
        raise ConfigError(f"'{run.file('history.json')}' chose best.ckpt by "
                          f"{history['best_metric']}; resume with --best_metric "
                          f"{history['best_metric']}, or train into a new output_dir")
    validator = Validator(cfg, net) if (cfg.val_dir and rank == 0 and cfg.val_every > 0) else None
    scalars = Scalars(cfg.tensorboard and run.writer)      # tensorboardX missing: refused here

    from src.data.dataset import create_train_batches, resolve_num_workers
    batches = create_train_batches(
        cfg.train_dir, cfg.scale, cfg.lr_patch_size, cfg.batch_size,
        lr_dir=cfg.train_lr_dir or None,
        num_workers=resolve_num_workers(cfg.num_workers, cfg.device_target), rank=rank,
        group_size=group_size, seed=cfg.seed, start_iteration=start, augment=cfg.augment,
        min_texture=cfg.min_patch_texture, degradation=Degradation.from_config(cfg),
        cache_mb=cfg.train_cache_mb, lr_name_template=cfg.lr_name_template)
    run.prepare(replace=overwrite and not resume)
    scalars.open(run.path, start + 1)
    if run.writer:
        save_config(cfg, run.file("config.yaml"))
        with open(run.file("command.txt"), "a", encoding="utf-8") as handle:
            handle.write(provenance_line() + "\n")
            handle.write(" ".join(["python"] + [shlex.quote(a) for a in sys.argv]) + "\n")
    run.log(f"training {cfg.total_iters} iterations from {start} on {group_size} device(s), "
            f"batch {cfg.batch_size}/device, LR patch {cfg.lr_patch_size}, output {cfg.output_dir}")
    if init_line:
        run.log(init_line)

    temperature = TemperatureSchedule.from_config(cfg)
    # The config's T, which config.yaml records: not the one a resumed or --init_weights
    # checkpoint holds (loading restored that). Resumed, it is the T the step would have had.
    net.set_temperature(temperature.value_at(start))
    # (path, iteration) of the newest checkpoint whose weights gave a finite loss
    last_good = (resume, start) if resume else None
    pending = None           # iteration of the checkpoint waiting for the next step's loss
    tick, tick_iteration = time.time(), start
    loss_sum, loss_count = 0.0, 0
    data_wait, overflow_skips = 0.0, 0      # per log window: s waiting for batches, skipped steps
    for iteration in range(start + 1, cfg.total_iters + 1):
        if temperature.changes_at(iteration - 1):
            net.set_temperature(temperature.value_at(iteration - 1))
        waiting = time.time()
        lr_batch, hr_batch = next(batches)
        data_wait += time.time() - waiting
        loss, skipped = step_result(train_step(lr_batch, hr_batch))
        overflow_skips += skipped
        if not math.isfinite(loss):
            if run.writer:
                run.discard_pending()
            where = (f"'{last_good[0]}' (iteration {last_good[1]}, the last checkpoint whose "
                     f"weights gave a finite loss) is kept" if last_good is not None
                     else "no checkpoint was written yet")
            raise TrainingStopped(f"loss became {loss} at iteration {iteration}; stopped. "
                                  f"{where}. Lower --lr or check the training data.")
        if pending is not None:
            run.promote_pending()
            last_good, pending = (run.file("latest.ckpt"), pending), None
        loss_sum, loss_count = loss_sum + loss, loss_count + 1
        if iteration % cfg.log_every == 0 or iteration == cfg.total_iters:
            elapsed = max(time.time() - tick, 1e-9)
            speed = (iteration - tick_iteration) / elapsed
            history["loss"].append([iteration, loss_sum / loss_count])
            scalars.add(iteration, {"train/loss": loss_sum / loss_count,
                                    "train/lr": schedule.value_at(iteration - 1)})
            run.log(f"iter {iteration}/{cfg.total_iters} | loss {loss_sum / loss_count:.5f} | "
                    f"lr {schedule.value_at(iteration - 1):.2e} | "
                    f"{f'T {net.temperature():.2f} | ' if temperature.anneal_iters and net.temperature() else ''}"
                    f"{speed:.2f} it/s | "
                    f"{speed * cfg.batch_size * group_size:.1f} samples/s | "
                    f"{data_rate_text(batches, data_wait / elapsed)} | "
                    f"{amp_text(train_step, overflow_skips)}"
                    f"ETA {format_eta((cfg.total_iters - iteration) / max(speed, 1e-9))}")
            tick, tick_iteration, loss_sum, loss_count = time.time(), iteration, 0.0, 0
            data_wait, overflow_skips = 0.0, 0
        paused = time.time()
        if validator and (iteration % cfg.val_every == 0 or iteration == cfg.total_iters):
            scalars.add(iteration, validate(validator, net, run, history, iteration))
        if run.writer and (iteration % cfg.ckpt_every == 0 or iteration == cfg.total_iters):
            if iteration == cfg.total_iters:      # no next step to wait for
                save_checkpoint_atomic(train_step, run.file("latest.ckpt"),
                                       append_dict={"iteration": iteration})
            else:
                run.save_pending(train_step, iteration)
                pending = iteration
            run.save_history(history)
            plot_curves(history, run.file("curve.png"), cfg.loss)
        tick += time.time() - paused        # it/s and ETA count training steps only
    if dump_final_weights:
        os.makedirs(dump_final_weights, exist_ok=True)
        save_checkpoint_atomic(net, os.path.join(dump_final_weights, f"rank{rank}.ckpt"))
    scalars.close()
    value = history["best_value"]
    run.log(f"done: {cfg.total_iters} iterations; best val {BEST_LABELS[cfg.best_metric]} "
            + (f"{value:.4f}" if cfg.best_metric == "ssim_y" else f"{value:.3f} dB")
            + f" at iteration {history['best_iteration']}")
    return net


VAL_KEYS = ("psnr_y", "psnr_rgb", "ssim_y")


def validate(validator, net, run, history, iteration):
    """Validate on every set, record, and keep best.ckpt (weights only) when the first
    set's history["best_metric"] figure improves. The history record holds the first
    set's figures at the top level (as with one set) and every set's under "sets";
    returns the TensorBoard scalars: val/KEY for the first set, val_NAME/KEY for the
    others."""
    started = time.time()
    net.set_train(False)
    means = validator()
    net.set_train(True)
    sets = {name: {k: float(v) for k, v in mean.items() if isinstance(v, (int, float, np.floating))}
            for name, mean in means.items()}
    record = {"iteration": iteration, **sets[validator.first], "sets": sets}
    history["val"].append(record)
    figure = record[history["best_metric"]]
    improved = figure > history["best_value"]
    if improved:
        history["best_value"], history["best_iteration"] = figure, iteration
        save_checkpoint_atomic(net, run.file("best.ckpt"), append_dict={"iteration": iteration})
    for name, figures in sets.items():
        label = "" if name == validator.first else f" {name}"
        run.log(f"val{label} @ {iteration}: PSNR-Y {figures['psnr_y']:.3f} dB (bicubic "
                f"{figures['bicubic_psnr_y']:.3f}, gain "
                f"{figures['psnr_y'] - figures['bicubic_psnr_y']:+.3f}) "
                f"| PSNR-RGB {figures['psnr_rgb']:.3f} | SSIM-Y {figures['ssim_y']:.4f}"
                f"{' | best' if improved and name == validator.first else ''}")
    run.log(f"validation took {time.time() - started:.1f} s")
    return {f"val{'' if name == validator.first else '_' + name}/{key}": figures[key]
            for name, figures in sets.items() for key in VAL_KEYS}
