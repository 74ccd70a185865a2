"""Checkpoint files: atomic writes, and loading that names every mismatch.

A training checkpoint is a MindSpore ``.ckpt`` holding the network parameters (named
as in the Cell: ``conv_first.weight``, ``blocks.0.convs.1.basis`` ...), the Adam state
(``adam_m.*``, ``adam_v.*``, ``global_step``...) and training metadata (``iteration``).
The run's resolved ``config.yaml`` sits beside it; :func:`config_for_checkpoint` finds it.
"""
import os

import mindspore as ms

from src.config import ConfigError, config_beside_checkpoint, load_config
from src.files import atomic_write, remove_quietly


class CheckpointError(ConfigError):
    """A checkpoint that is missing, unreadable or does not fit the model."""


def save_checkpoint_atomic(save_obj, path, append_dict=None):
    """Write ``path`` through src.files.atomic_write (a temporary file of a made-up name,
    then a rename), so a crash mid-write never leaves a truncated checkpoint where the
    previous good one was; mode 0666 minus the umask (MindSpore writes 0400). A failed
    write (disk full, read-only folder) removes its partial files and raises an OSError
    naming ``path``."""
    try:
        with atomic_write(path) as tmp:
            try:
                ms.save_checkpoint(save_obj, tmp, append_dict=append_dict)
            finally:      # MindSpore writes NAME.tmp first and renames it to NAME.ckpt
                remove_quietly(os.path.splitext(tmp)[0] + ".tmp")
    except OSError as err:
        raise OSError(err.errno, err.strerror or str(err), path) from None


def read_checkpoint(path):
    """All entries of a ``.ckpt`` as {name: Parameter}; CheckpointError if unusable."""
    if path and os.path.isdir(path):
        raise CheckpointError(f"checkpoint '{path}' is a folder; pass the .ckpt file inside "
                              f"it (e.g. {os.path.join(path, 'best.ckpt')})")
    if not path or not os.path.isfile(path):
        raise CheckpointError(f"checkpoint '{path}' does not exist; pass the path of a .ckpt "
                              f"written by train.py (e.g. runs/asconvsr_x2/best.ckpt)")
    try:
        return ms.load_checkpoint(path)
    except Exception as err:  # MindSpore raises several types for a bad file
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"'{path}' is not a readable MindSpore checkpoint ({first[:160]})") from None


def parameter_mismatch(params, entries):
    """(names missing from ``entries``, "name: checkpoint shape vs model shape" lines) for
    the {name: Parameter} ``params`` against checkpoint ``entries``."""
    # Checkpoints from before the temperature was a Parameter hold no T: they were
    # trained at a fixed T, the config's, which a freshly built net already holds.
    missing = [name for name in params if name not in entries
               and not name.endswith("control.temperature")]
    mismatched = [f"{name}: checkpoint {tuple(entries[name].shape)} vs model {tuple(p.shape)}"
                  for name, p in params.items()
                  if name in entries and tuple(entries[name].shape) != tuple(p.shape)]
    return missing, mismatched


def copy_weights(source, target):
    """Set ``target``'s Parameters from the same-named ones of ``source`` (two networks
    of one config, e.g. built with different implementation keys); returns target."""
    own = {p.name: p for p in target.get_parameters()}
    missing, mismatched = parameter_mismatch(own, source.parameters_dict())
    if missing or mismatched:
        raise CheckpointError(f"the networks differ: {(missing + mismatched)[0]}")
    ms.load_param_into_net(target, {name: source.parameters_dict()[name] for name in own},
                           strict_load=False)
    return target


def load_model_weights(net, path, strict=True, unfold=False):
    """Load the network parameters of checkpoint ``path`` into ``net``; returns the names
    of the kernels converted between the two forms of reparam (below), if any.

    Entries that are not network parameters (optimizer state, metadata) are ignored.
    Missing parameters and shape mismatches raise CheckpointError naming them, since a
    checkpoint of another preset or scale would otherwise load half-way or fail deep
    inside MindSpore. A checkpoint trained with reparam ecb loads into a reparam-none
    ``net`` folded (src.model.asconvsr.fold_reparam: the same function). ``unfold``: a
    reparam-none checkpoint may start a new network that trains with reparam ecb
    (src.model.asconvsr.unfolded_entries), as --init_weights does.
    """
    from src.model.asconvsr import fold_reparam, rep_kernels, unfolded_entries
    entries, converted = read_checkpoint(path), []
    if unfold:
        entries, converted = unfolded_entries(net, entries)
        biased = [name for name in converted if name.rsplit(".", 1)[0] + ".bias" in entries]
        if biased:
            raise CheckpointError(f"checkpoint '{path}' has a bias beside '{biased[0]}' (bias "
                                  f"True); reparam ecb trains bias-free kernels: fine-tune it "
                                  f"with --reparam none")
    branched = branched_twin(net, entries)
    if branched is not None:        # an ecb checkpoint into a reparam-none network
        load_entries(branched, entries, path, strict)
        converted = [name for name, _ in rep_kernels(branched)]
        entries = fold_reparam(branched).parameters_dict()
    load_entries(net, entries, path, strict)
    return converted


def branched_twin(net, entries):
    """The reparam-ecb form of the reparam-none AsConvSR ``net``, to receive checkpoint
    ``entries`` that hold ECB branches; None when there is nothing to fold, or when
    ``net``'s config cannot have the branches (its names then fail to fit, as usual)."""
    from dataclasses import replace
    from src.model.asconvsr import AsConvSR, is_branch
    cfg = getattr(net, "cfg", None)
    if cfg is None or cfg.reparam != "none" or not any(is_branch(n) for n in entries):
        return None
    try:
        return AsConvSR(replace(cfg, reparam="ecb"))
    except ConfigError:
        return None


def load_entries(net, entries, path, strict=True):
    """Set ``net``'s parameters from checkpoint ``path``'s ``entries``, or CheckpointError."""
    own = {p.name: p for p in net.get_parameters()}
    missing, mismatched = parameter_mismatch(own, entries)
    hint = ("the checkpoint was trained with another preset/scale: pass its config "
            "(--config_path, the run's config.yaml)")
    if mismatched:
        raise CheckpointError(f"checkpoint '{path}' does not fit the model ({hint}); "
                              f"shape mismatch in {len(mismatched)} parameter(s), first: "
                              f"{mismatched[0]}")
    if missing and strict:
        raise CheckpointError(f"checkpoint '{path}' lacks {len(missing)} model parameter(s), "
                              f"first: '{missing[0]}' ({hint})")
    ms.load_param_into_net(net, {name: entries[name] for name in own if name in entries},
                           strict_load=False)


def load_trained_model(cfg, path, temperature=None):
    """(net, model config): the AsConvSR ``cfg`` describes, with checkpoint ``path``'s
    weights, in inference mode (a network trained with reparam ecb in its folded form,
    whose config says reparam none). The one loader behind eval, export, inference and the
    diagnostics scripts. A checkpoint holds the softmax temperature it ran at, which
    loading restores; ``temperature`` (a user's explicit choice, see
    src.deploy.cli.temperature_to_run) replaces it."""
    from src.model.asconvsr import AsConvSRConfig, build_model, fold_reparam
    model_cfg = AsConvSRConfig.from_dict(cfg)
    net = build_model(model_cfg)
    load_model_weights(net, path)
    net = fold_reparam(net)            # reparam ecb: its deploy form, the same function
    if temperature is not None:
        net.set_temperature(temperature)
    net.set_train(False)
    return net, net.cfg


def load_trained_model_or_exit(ckpt_path, config_path=None):
    """(net, model config) for the diagnostics scripts: :func:`load_trained_model` with
    the config beside the checkpoint (or ``config_path``); a checkpoint that is missing or
    does not fit ends the process with one line on stderr."""
    import sys
    cfg = config_for_checkpoint(ckpt_path, config_path)
    try:
        return load_trained_model(cfg, ckpt_path)
    except CheckpointError as err:
        sys.exit(f"error: {err}")


def config_for_checkpoint(ckpt_path, config_path=None, overrides=None):
    """The config a checkpoint was trained with: ``config_path`` when given, else the
    ``config.yaml`` beside the checkpoint, else the defaults (then overrides)."""
    if config_path is None:
        config_path = config_beside_checkpoint(ckpt_path)
    return load_config(config_path, overrides)
