"""Evaluate an AsConvSR model (.ckpt, .mindir or .onnx): PSNR/SSIM (Y and RGB) against bicubic, per image and per set.

    python eval.py --model runs/asconvsr_x2/best.ckpt [--data_dir DIR ...] [--lr_dir DIR ...]
                   [--json OUT.json] [--save_dir DIR] [--compare DIR] [--crop_border N]
                   [--tile N] [--fp16] [--config_path YAML] [--overwrite] [--quiet]
                   [--protocol challenge [--runtime_ms MS | measure]] [--key value ...]

MODEL: a training checkpoint (.ckpt, with its config.yaml), or a .mindir / .onnx that
export.py wrote (its metadata says the scale). All three are predicted by infer.py's
runners (src/deploy), whole image unless --tile N, so their figures compare; the table
and the JSON say which kind of file was scored, how (whole image or tiles) and in
which precision.

--protocol challenge scores as the NTIRE 2023 RTSR kit does (src/challenge.py): LR by
Pillow bicubic then JPEG quality 90 (unless --lr_dir), crop_border 0, and the
challenge score from the mean RGB PSNR over bicubic and a runtime you give or measure.

Refused before any work (one line): a --save_dir/--compare that is an input folder, an
output location that cannot be written, an output file (an SR or comparison PNG, the
JSON) that exists unless --overwrite. Rows are named by file name; x.png and x.jpg are
saved as x_png.png and x_jpg.png. Unreadable images and images too small for the
border crop and SSIM are skipped, by name.

Config: default_config.yaml < --config_path (or, without it, the config.yaml beside a
checkpoint, as train.py writes it) < --key value flags. So ``--scale 3`` or
``--device_target GPU`` work as everywhere else. Without --data_dir the config's val_dir
is evaluated. ``--mode graph`` (the default) compiles one graph per input size, excluded
from the runtime by a warm-up run; ``--mode pynative`` starts faster on small sets of
differently-sized images but reports slower runtimes (docs/eval.md has the measurement).
Metric conventions: src/metrics.py and src/evaluate.py; docs/eval.md.
"""
import json
import math
import os
import sys

import src  # noqa: F401  (applies the runtime environment before mindspore loads)
from src.config import ConfigError, run_main
from src.deploy.cli import (command_line_keys, parse_config_for_checkpoint, refuse_fp16,
                            temperature_to_run, warn_changed_model_keys)

def extra_args(parser):
    parser.add_argument("--model", "--ckpt_path", dest="ckpt_path", required=True,
                        help="model to evaluate: a .ckpt (with its config.yaml), or a .mindir "
                             "/ .onnx from export.py (--ckpt_path: the same)")
    parser.add_argument("--data_dir", action="append", default=None,
                        help="folder of HR images; repeat for several sets (default: val_dir)")
    parser.add_argument("--lr_dir", action="append", default=None,
                        help="folder of matching LR images, one per --data_dir (default: "
                             "MATLAB-compatible bicubic downscaling of the HR)")
    parser.add_argument("--json", default=None, help="write the results to this JSON file")
    parser.add_argument("--save_dir", default=None, help="write the SR images (PNG) here")
    parser.add_argument("--compare", default=None,
                        help="write a bicubic | AsConvSR | HR crop (PNG) per image here")
    parser.add_argument("--crop_border", type=int, default=None,
                        help="pixels cropped per side before the metrics (default: scale)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing --save_dir/--compare images and --json file")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--protocol", choices=("standard", "challenge"), default="standard",
                        help="challenge: the NTIRE 2023 RTSR kit's (LR by Pillow bicubic + "
                             "JPEG q90 unless --lr_dir, crop_border 0, the challenge score)")
    parser.add_argument("--runtime_ms", default="measure",
                        help="challenge score's runtime: milliseconds measured elsewhere, or "
                             "'measure' (batch 1 at the 4K-output size, on this device)")
    parser.add_argument("--runtime_runs", type=int, default=10,
                        help="timed runs for --runtime_ms measure (after 3 warm-ups)")
    parser.add_argument("--fp16", action="store_true",
                        help="run a .ckpt model in float16 (MindSpore O2, GPU/Ascend only); "
                             "metrics are computed on the rounded output as always")
    parser.add_argument("--tile", type=int, default=0,
                        help="predict in tiles of N LR pixels as infer.py does (results equal "
                             "the whole image's up to float rounding); 0: whole image")


def resolve_config(argv):
    """(cfg, extras, config source): --config_path, else the checkpoint's config.yaml,
    else the defaults; command-line --key value flags override either."""
    return parse_config_for_checkpoint(argv, lambda extras: extras.ckpt_path,
                                       __doc__.splitlines()[0], extra_args)


def data_sets(cfg, extras):
    """[(data_dir, lr_dir or None)] from --data_dir/--lr_dir (or val_dir/val_lr_dir)."""
    data_dirs = extras.data_dir or ([cfg.val_dir] if cfg.val_dir else [])
    if not data_dirs:
        raise ConfigError("no images to evaluate: pass --data_dir DIR (HR images)")
    if extras.lr_dir is None:
        default_lr_dir = None if extras.data_dir else (cfg.val_lr_dir or None)
        lr_dirs = [default_lr_dir] * len(data_dirs)
    elif len(extras.lr_dir) != len(data_dirs):
        raise ConfigError(f"{len(extras.lr_dir)} --lr_dir for {len(data_dirs)} --data_dir; "
                          f"give one --lr_dir per --data_dir, in the same order")
    else:
        lr_dirs = [d or None for d in extras.lr_dir]
    for folder in data_dirs + [d for d in lr_dirs if d]:
        if not os.path.isdir(folder):
            raise ConfigError(f"folder '{folder}' does not exist; pass --data_dir (HR) and "
                              f"--lr_dir (LR) folders of images")
    return list(zip(data_dirs, lr_dirs))


def set_names(data_dirs):
    """Short unique names of the sets: the shortest trailing path parts that tell the
    folders apart (data/Set5/HR, data/Set14/HR -> Set5/HR, Set14/HR)."""
    parts = [os.path.normpath(os.path.abspath(d)).split(os.sep) for d in data_dirs]
    for depth in range(1, max(len(p) for p in parts) + 1):
        names = ["/".join(p[-depth:]) for p in parts]
        if len(set(names)) == len(names):
            return names
    return [f"{'/'.join(p[-2:])}#{i}" for i, p in enumerate(parts)]   # one folder given twice


OUTPUT_SUFFIX = {"--save_dir": ".png", "--compare": "_compare.png"}   # after the base name


def image_writer(save_dir, compare_dir, scale, names, overwrite=True):
    """on_image callback of evaluate_pairs writing SR PNGs and comparison PNGs; ``names``:
    {file name: output base name} (x.png and x.jpg -> x_png, x_jpg); each file is created
    exclusively unless ``overwrite``."""
    from src.images import write_image
    from src.evaluate import bicubic_upscale, comparison_image

    def on_image(name, lr, sr, hr, row):
        base = names[name]
        if save_dir:
            write_image(os.path.join(save_dir, base + OUTPUT_SUFFIX["--save_dir"]),
                        sr[:, :, ::-1], overwrite)
        if compare_dir:
            figure = comparison_image(name, bicubic_upscale(lr, scale), sr, hr, row)
            write_image(os.path.join(compare_dir, base + OUTPUT_SUFFIX["--compare"]),
                        figure[:, :, ::-1], overwrite)
    return on_image


def saved_names(data_dir):
    """{file name: output base name} of every image in ``data_dir`` (x.png and x.jpg ->
    x_png, x_jpg): from the folder's listing, so the names are known before any image is
    read and do not depend on which images turn out readable."""
    from src.deploy.outputs import output_names
    from src.images import list_images
    files = [os.path.basename(path) for path in list_images(data_dir)]
    return {name: os.path.splitext(out)[0] for name, out in output_names(files, ".png").items()}


def mean_macs(model_cfg, pairs):
    """Mean MACs per image of the set (the LR padded to a multiple of unshuffle); None
    when the model's config is unknown (an export without metadata)."""
    from src.model.complexity import count_macs
    if model_cfg is None:
        return None
    u = model_cfg.unshuffle
    sizes = [(-(-lr.shape[0] // u) * u, -(-lr.shape[1] // u) * u) for _, lr, _ in pairs]
    return int(round(sum(count_macs(model_cfg, h, w) for h, w in sizes) / len(sizes)))


def load_set(data_dir, lr_dir, scale, crop, make_lr=None):
    """(pairs named by file name, skipped): unreadable images, and those too small for
    the border crop and SSIM, are skipped with their names. ``make_lr(hr, scale)`` makes
    the LR when there is no lr_dir (default: MATLAB bicubic)."""
    from src.data.dataset import load_eval_pairs
    from src.images import list_images
    from src.evaluate import name_by_file, split_measurable
    pairs, skipped = load_eval_pairs(data_dir, scale, lr_dir, make_lr)
    names = name_by_file(list_images(data_dir), [p[0] for p in pairs] + list(skipped))
    pairs = [(name, lr, hr) for name, (_, lr, hr) in zip(names, pairs)]
    skipped = names[len(pairs):]
    pairs, small = split_measurable(pairs, crop)
    for name, reason in small:
        print(f"skipped {name}: {reason}", file=sys.stderr)
    return pairs, skipped + small


def evaluate_set(predict, data_dir, lr_dir, crop, out_dirs, title, progress, protocol,
                 overwrite=True):
    """Evaluate one folder; print its table (and its challenge score); return its JSON block."""
    from src.evaluate import evaluate_pairs, format_table, describe_skipped
    scale = predict.runner.scale
    pairs, skipped = load_set(data_dir, lr_dir, scale, crop, protocol.get("make_lr"))
    if not pairs:
        raise ConfigError(f"data_dir '{data_dir}' has no image to evaluate ({len(skipped)} "
                          f"skipped); point --data_dir at a folder of HR images")
    on_image = (image_writer(*out_dirs, scale, saved_names(data_dir), overwrite)
                if any(out_dirs) else None)
    rows, mean = evaluate_pairs(predict, pairs, scale, crop, on_image, progress)
    print(format_table(f"{title} ({data_dir}) [{predict.label()}]", rows, mean, skipped),
          flush=True)
    block = {"name": title, "data_dir": data_dir, "lr_dir": lr_dir, "num_images": len(rows),
             "num_skipped": len(skipped), "skipped": [describe_skipped(s) for s in skipped],
             "macs_per_image": mean_macs(predict.runner.model_cfg, pairs), "images": rows,
             "mean": mean}
    if "runtime_ms" in protocol:
        from src.challenge import format_score, score_block
        block["challenge"] = score_block(mean, protocol["runtime_ms"], protocol["runtime_source"])
        print(format_score(block["challenge"], mean), flush=True)
    return block


def output_folders(sets, extras):
    """[(flag, [(data_dir, lr_dir, out_dir or None)...])]: where each set's outputs go
    (several sets: a sub-folder each)."""
    names = set_names([d for d, _ in sets])
    plan = []
    for flag, folder in (("--save_dir", extras.save_dir), ("--compare", extras.compare)):
        subs = [name.replace("/", "_") if len(sets) > 1 else "" for name in names]
        plan.append((flag, [os.path.join(folder, sub) if folder else None for sub in subs]))
    return plan


def output_files(sets, extras):
    """Every file this evaluation will write: SR and comparison PNGs, the JSON."""
    files = []
    for flag, folders in output_folders(sets, extras):
        for (data_dir, _), folder in zip(sets, folders):
            if folder is not None:
                files += [os.path.join(folder, base + OUTPUT_SUFFIX[flag])
                          for base in saved_names(data_dir).values()]
    return files + ([extras.json] if extras.json else [])


def check_outputs(sets, extras, scale):
    """Before the model loads: no output folder is an input folder, the JSON is not an
    input, every output location is writable and no earlier output file would be
    replaced unless --overwrite (one line naming it otherwise)."""
    from src.data.dataset import resolve_lr_dir
    from src.deploy.outputs import OutputError, check_writable_folder, refuse_existing, same_path
    inputs = [d for d, _ in sets] + [resolve_lr_dir(l, scale) for _, l in sets if l]
    inputs += [l for _, l in sets if l]
    plan = [(flag, folder) for flag, folders in output_folders(sets, extras)
            for folder in folders if folder is not None]
    for flag, folder in plan:
        for source in inputs:
            if same_path(folder, source):
                raise OutputError(f"{flag} '{folder}' is the input folder '{source}': "
                                  f"its images would be overwritten; choose another folder")
    if extras.json and os.path.isdir(extras.json):
        raise OutputError(f"--json '{extras.json}' is a folder; give a file name")
    # before any folder is created: a refusal leaves the disk as it was
    refuse_existing(output_files(sets, extras), extras.overwrite,
                    "choose another --save_dir, --compare or --json")
    for flag, folder in plan:
        check_writable_folder(folder, flag)
    if extras.json:
        check_writable_folder(os.path.dirname(os.path.abspath(extras.json)), "--json")


def runtime_note(predict):
    """How the ms column was measured (printed under the tables)."""
    runner = predict.runner
    note = (f"ms: time inside the model's graphs per image ({runner.engine}), batch 1, "
            f"{predict.describe()['inference']}; an untimed warm-up run on the first image")
    if runner.compiles_per_shape:
        return note + " and on each new input size keeps graph compilation out of it"
    if runner.eager:
        return note + "; PyNative: includes Python's per-operator dispatch (--mode graph " \
                      "for the compiled model's time)"
    return note


def finite_or_none(value):
    """JSON has no inf/NaN: write them as null (PSNR is inf only for a perfect result)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list):
        return [finite_or_none(item) for item in value]
    return value


def write_json(path, report, overwrite=True):
    """Write the JSON atomically (mode 0666 minus the umask; exclusively unless
    ``overwrite``); one line naming the path on failure (the tables are already printed)."""
    from src.deploy.outputs import output_file
    with output_file(path, overwrite) as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(finite_or_none(report), handle, indent=2, allow_nan=False)


def evaluate_sets(predict, sets, crop, extras, protocol):
    """Evaluate every (data_dir, lr_dir); outputs of several sets go to sub-folders."""
    (_, save_dirs), (_, compare_dirs) = output_folders(sets, extras)
    blocks = []
    for (data_dir, lr_dir), name, save, compare in zip(
            sets, set_names([d for d, _ in sets]), save_dirs, compare_dirs):
        blocks.append(evaluate_set(predict, data_dir, lr_dir, crop, (save, compare), name,
                                   not extras.quiet, protocol, extras.overwrite))
    return blocks


def format_summary(blocks):
    """One line per set: mean PSNR/SSIM-Y of the model and of bicubic, the gain, ms."""
    width = max(len("set"), max(len(b["name"]) for b in blocks))
    lines = ["== summary (mean per set, Y channel)",
             f"{'set':<{width}}  {'images':>6}  {'PSNR-Y / SSIM-Y':<15}  {'bicubic':<15}  "
             f"{'gain-Y dB':>9}  {'ms':>6}"]
    for block in blocks:
        m = block["mean"]
        lines.append(f"{block['name']:<{width}}  {block['num_images']:>6}  "
                     f"{m['psnr_y']:6.3f} / {m['ssim_y']:.4f}  "
                     f"{m['bicubic_psnr_y']:6.3f} / {m['bicubic_ssim_y']:.4f}  "
                     f"{m['gain_psnr_y']:+9.3f}  {m['runtime_ms']:6.1f}")
    return "\n".join(lines)


def border_crop(scale, extras):
    """Pixels cropped per side: --crop_border, else the scale (BasicSR's convention);
    the challenge protocol's 0, which a different --crop_border contradicts."""
    if extras.protocol == "challenge":
        from src.challenge import CROP_BORDER
        if extras.crop_border not in (None, CROP_BORDER):
            raise ConfigError(f"--protocol challenge measures with crop_border {CROP_BORDER}; "
                              f"drop --crop_border {extras.crop_border} or use --protocol standard")
        return CROP_BORDER
    crop = scale if extras.crop_border is None else extras.crop_border
    if crop < 0:
        raise ConfigError(f"--crop_border must be >= 0, got {crop}")
    return crop


def given_runtime(extras):
    """Before loading, the challenge flags checked: the --runtime_ms given, or None
    (measure it, or the standard protocol)."""
    if extras.protocol != "challenge":
        return None
    from src.challenge import check_runtime_runs, parse_runtime
    check_runtime_runs(extras.runtime_runs)
    return parse_runtime(extras.runtime_ms)


def challenge_protocol(extras, runtime_ms, predict, scale):
    """{} for the standard protocol; else make_lr (the kit's LR where no --lr_dir is
    given) and the runtime behind the score: ``runtime_ms`` given, or measured here."""
    if extras.protocol != "challenge":
        return {}
    from src.challenge import challenge_input_shape, measure_runtime_ms
    from src.data.degrade import challenge_lr
    source = "given"
    if runtime_ms is None:
        runtime_ms = measure_runtime_ms(predict, scale, extras.runtime_runs)
        height, width = challenge_input_shape(scale)
        source = f"measured, mean of {extras.runtime_runs} at {width}x{height}"
    return {"make_lr": challenge_lr, "runtime_ms": runtime_ms, "runtime_source": source}


def open_predictor(cfg, extras, explicit, temperature=None):
    """The model file through infer.py's runners (src/deploy/runners.py open_model), as a
    uint8 predictor, whole image or in --tile tiles; a .ckpt at ``temperature`` when the
    user chose one."""
    from src.deploy.predictor import Predictor
    from src.deploy.runners import open_model
    return Predictor(open_model(extras.ckpt_path, cfg, explicit, fp16=extras.fp16,
                                temperature=temperature), extras.tile)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    cfg, extras, config_source = resolve_config(argv)
    explicit = command_line_keys(argv)
    sets = data_sets(cfg, extras)
    from src.deploy.runners import model_scale
    scale = model_scale(extras.ckpt_path, cfg, explicit)     # an export's own, before loading
    crop = border_crop(scale, extras)
    if extras.tile < 0:
        raise ConfigError(f"--tile must be >= 0 (0: whole image), got {extras.tile}")
    runtime_ms = given_runtime(extras)
    check_outputs(sets, extras, scale)
    if extras.fp16:
        refuse_fp16(extras.ckpt_path, cfg.device_target)
    from src.runtime import setup
    setup(cfg.device_target, cfg.mode, device_id=cfg.device_id)
    from src.model.complexity import count_params
    temperature = None
    if extras.ckpt_path.lower().endswith(".ckpt"):
        warn_changed_model_keys(argv, cfg, extras.ckpt_path)
        temperature = temperature_to_run(argv, cfg, extras.ckpt_path)
    predict = open_predictor(cfg, extras, explicit, temperature)
    runner = predict.runner
    params = count_params(runner.model_cfg) if runner.model_cfg is not None else None
    print(f"model {extras.ckpt_path} ({predict.label()}, {runner.engine}) | config "
          f"{config_source or 'defaults'} | x{runner.scale} | "
          f"{'?' if params is None else f'{params:,}'} params | crop_border {crop}", flush=True)
    protocol = challenge_protocol(extras, runtime_ms, predict, runner.scale)
    blocks = evaluate_sets(predict, sets, crop, extras, protocol)
    if len(blocks) > 1:
        print(format_summary(blocks))
    print(runtime_note(predict))
    if extras.json:
        write_json(extras.json, report(cfg, extras, config_source, crop, params, blocks, predict),
                   extras.overwrite)
        print(f"wrote {extras.json}")


def report(cfg, extras, config_source, crop, params, blocks, predict):
    """The JSON document: the first set's results at top level, every set under 'sets'."""
    first = blocks[0]
    about = predict.describe()
    return {**about, "checkpoint": about["model"] if about["model_format"] == "checkpoint"
            else None, "config": config_source, "scale": predict.runner.scale,
            "protocol": extras.protocol, "crop_border": crop,
            "device_target": cfg.device_target, "mode": cfg.mode,
            "params": params, "macs_per_image": first["macs_per_image"],
            "runtime_note": runtime_note(predict),
            "data_dir": first["data_dir"], "num_images": first["num_images"],
            "num_skipped": first["num_skipped"], "skipped": first["skipped"],
            "images": first["images"], "mean": first["mean"], "sets": blocks}


if __name__ == "__main__":
    run_main(main)
