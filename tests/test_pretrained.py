"""The shipped checkpoints (pretrained/NAME/): a flat folder whose files match SHA256SUMS,
a checkpoint that loads into the network its model-keys config.yaml describes, a chain of
training stages each started from the one before's weights, and a MODEL_CARD.md whose
figures are those of the stages' train.logs and whose commands replay the configs the
stages ran with."""
import glob
import os
import re
import shlex

import numpy as np
import pytest

from src.files import sha256_of

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDERS = sorted(glob.glob(os.path.join(ROOT, "pretrained", "*", "")))
STAGE_FILES = ("command.txt", "config.yaml", "train.log", "history.json", "curve.png")
INITIAL_WEIGHTS = re.compile(r"^initial weights: .* \(sha256 ([0-9a-f]{64})\)", re.M)
DONE = re.compile(r"^done: (\d+) iterations; best val (?:PSNR-Y|PSNR-RGB|SSIM-Y) ([\d.]+)"
                  r"(?: dB)? at iteration (\d+)", re.M)


def folder_id(folder):
    return os.path.basename(os.path.normpath(folder))


def checkpoint_of(folder):
    return os.path.join(folder, folder_id(folder) + ".ckpt")


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def stage_digests(folder):
    """[(digest, run path)] from training/stage_weights.sha256, first stage first."""
    lines = read(os.path.join(folder, "training", "stage_weights.sha256")).splitlines()
    return [tuple(line.split()) for line in lines if line]


def stage_file(folder, stage, name):
    return os.path.join(folder, "training", f"stage{stage}_{name}")


def best_val_line(folder, stage):
    """(done: match, the 'val @ best' line's fields) of stage ``stage``'s train.log."""
    log = read(stage_file(folder, stage, "train.log"))
    done = list(DONE.finditer(log))[-1]
    val = re.search(rf"^val @ {done.group(3)}: PSNR-Y ([\d.]+) dB \(bicubic ([\d.]+), gain "
                    rf"([+-][\d.]+)\) \| PSNR-RGB ([\d.]+) \| SSIM-Y ([\d.]+)", log, re.M)
    return done, val


def card_table(folder, first_header):
    """The rows (lists of cells) of the MODEL_CARD.md table whose header starts so."""
    lines = read(os.path.join(folder, "MODEL_CARD.md")).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def card_stage_commands(folder):
    """{stage: argv after 'python train.py'} from the card's replay block (# stage K)."""
    text = read(os.path.join(folder, "MODEL_CARD.md")).replace("\\\n", " ")
    commands = {}
    for stage, line in re.findall(r"^# stage (\d+)\n(python train\.py .*)$", text, re.M):
        commands[int(stage)] = shlex.split(line)[2:]
    return commands


def test_the_x2_and_x3_checkpoints_are_shipped():
    names = {folder_id(f) for f in FOLDERS}
    assert {"asconvsr_x2", "asconvsr_x3", "asconvsr_x2_nounshuffle", "asconvsr_x3_nounshuffle"} <= names


@pytest.mark.parametrize("folder", FOLDERS, ids=folder_id)
def test_the_folder_is_flat_with_one_set_of_files_per_stage(folder):
    name = folder_id(folder)
    assert sorted(os.listdir(folder)) == sorted(
        [f"{name}.ckpt", "config.yaml", "SHA256SUMS", "MODEL_CARD.md", "training"])
    stages = len(stage_digests(folder))
    assert stages >= 1
    expected = {f"stage{k}_{f}" for k in range(1, stages + 1) for f in STAGE_FILES}
    assert set(os.listdir(os.path.join(folder, "training"))) == expected | {
        "stage_weights.sha256"}


@pytest.mark.parametrize("folder", FOLDERS, ids=folder_id)
def test_every_file_matches_sha256sums(folder):
    """SHA256SUMS lists exactly the folder's other files with their current digests
    (``sha256sum -c SHA256SUMS`` passes)."""
    listed = dict(reversed(line.split(maxsplit=1))
                  for line in read(os.path.join(folder, "SHA256SUMS")).splitlines())
    listed = {name.strip(): digest for name, digest in listed.items()}
    on_disk = {os.path.relpath(p, folder)
               for p in glob.glob(os.path.join(folder, "**"), recursive=True)
               if os.path.isfile(p) and os.path.relpath(p, folder) != "SHA256SUMS"}
    assert set(listed) == on_disk
    for name, digest in listed.items():
        assert sha256_of(os.path.join(folder, name)) == digest, name


@pytest.mark.parametrize("folder", FOLDERS, ids=folder_id)
def test_config_holds_the_last_stages_model_keys_only(folder):
    import dataclasses
    from src.config import load_config, load_yaml_documents
    from src.model.asconvsr import AsConvSRConfig
    keys = [field.name for field in dataclasses.fields(AsConvSRConfig)]
    shipped = load_yaml_documents(os.path.join(folder, "config.yaml"))[0]
    assert list(shipped) == keys
    last = load_config(stage_file(folder, len(stage_digests(folder)), "config.yaml"))
    assert shipped == {key: last[key] for key in keys}


@pytest.mark.parametrize("folder", FOLDERS, ids=folder_id)
def test_checkpoint_loads_with_its_config_and_upscales(folder):
    from mindspore import Tensor
    from src.checkpoint import config_for_checkpoint, load_trained_model
    cfg = config_for_checkpoint(checkpoint_of(folder))
    net, model_cfg = load_trained_model(cfg, checkpoint_of(folder))
    lr = np.random.default_rng(0).random((1, 3, 24, 24), dtype=np.float32)
    sr = net(Tensor(lr)).asnumpy()
    assert sr.shape == (1, 3, 24 * model_cfg.scale, 24 * model_cfg.scale)
    assert np.isfinite(sr).all()


@pytest.mark.parametrize("folder", FOLDERS, ids=folder_id)
def test_each_stage_started_from_the_stage_befores_weights(folder):
    """Stage 1 from scratch; stage K's train.log recorded the digest of stage K-1's
    best.ckpt; the shipped checkpoint is the last stage's."""
    digests = stage_digests(folder)
    assert INITIAL_WEIGHTS.search(read(stage_file(folder, 1, "train.log"))) is None
    for stage in range(2, len(digests) + 1):
        logged = INITIAL_WEIGHTS.search(read(stage_file(folder, stage, "train.log")))
        assert logged and logged.group(1) == digests[stage - 2][0], stage
    assert sha256_of(checkpoint_of(folder)) == digests[-1][0]


@pytest.mark.parametrize("folder", FOLDERS, ids=folder_id)
def test_card_figures_are_those_of_the_train_logs(folder):
    rows = card_table(folder, "stage")
    assert [int(row[0]) for row in rows] == list(range(1, len(stage_digests(folder)) + 1))
    for row in rows:
        done, val = best_val_line(folder, int(row[0]))
        assert row[2].split()[0] == done.group(1), row            # iterations
        # PSNR-Y at the best iteration, whichever figure (best_metric) chose it
        assert row[4] == f"{val.group(1)} ({val.group(3)}) at {done.group(3)}", row
    done, val = best_val_line(folder, len(rows))
    result = [cell.strip("*") for cell in card_table(folder, "scale")[0]]
    assert result[1:4] == [val.group(1), val.group(2), val.group(3)]   # PSNR-Y, bicubic, gain
    assert result[5].split()[0] == val.group(5)                        # SSIM-Y


@pytest.mark.parametrize("folder", FOLDERS, ids=folder_id)
def test_card_commands_replay_the_configs_the_stages_ran_with(folder):
    """Stage K's command in the card, read against stage K-1's config (what its run
    folder's config.yaml holds), resolves to stage K's recorded config; stage K reads
    stage K-1's runs/ folder and writes the runs/ folder the stage list names."""
    from src.config import load_config, parse_config
    commands = card_stage_commands(folder)
    digests = stage_digests(folder)
    assert sorted(commands) == list(range(1, len(digests) + 1))
    for stage, argv in commands.items():
        flags = dict(zip(argv[::2], argv[1::2]))
        assert flags["--output_dir"] == os.path.dirname(digests[stage - 1][1]), stage
        if stage > 1:
            before = os.path.dirname(digests[stage - 2][1])
            assert flags["--config_path"] == f"{before}/config.yaml", stage
            assert flags["--init_weights"] == f"{before}/best.ckpt", stage
            flags["--config_path"] = stage_file(folder, stage - 1, "config.yaml")
        replayed, _ = parse_config([item for pair in flags.items() for item in pair])
        recorded = load_config(stage_file(folder, stage, "config.yaml"))
        differ = {key for key in recorded if replayed[key] != recorded[key]}
        assert differ <= {"init_weights"}, (stage, differ)   # runs/ path, then pretrained/


@pytest.mark.parametrize("folder", FOLDERS, ids=folder_id)
def test_the_cards_network_line_is_its_config(folder):
    """The card's first paragraph names C, E and the unshuffle factor; they are config.yaml's."""
    from src.config import load_yaml_documents
    shipped = load_yaml_documents(os.path.join(folder, "config.yaml"))[0]
    intro = read(os.path.join(folder, "MODEL_CARD.md")).split("\n## ", 1)[0]
    named = re.search(r"C = (\d+)(?:, E = (\d+))?", intro)
    assert named, "the card's first paragraph names no C = ..."
    assert int(named.group(1)) == shipped["channels"]
    if named.group(2):
        assert int(named.group(2)) == shipped["num_kernels"]
    unshuffle = re.search(r"pixel-unshuffle (\d+)|no pixel-unshuffle", intro)
    assert unshuffle, "the card's first paragraph names no pixel-unshuffle factor"
    assert int(unshuffle.group(1) or 1) == shipped["unshuffle"]


CARDS_WITH_TEST_SETS = [f for f in FOLDERS
                        if "\n| set | PSNR-Y |" in read(os.path.join(f, "MODEL_CARD.md"))]


@pytest.mark.parametrize("folder", CARDS_WITH_TEST_SETS, ids=folder_id)
def test_card_test_set_figures_are_the_logs_at_the_val_photos_best(folder):
    """Set5/Set14, validated beside the val photos and only reported: the card's figures
    are the last stage's log at the iteration the val photos chose, and the README's
    standard-set row is the card's (2 decimals) with the network's parameter count."""
    from src.config import load_yaml_documents
    from src.model.asconvsr import AsConvSRConfig
    from src.model.complexity import count_params
    stage = len(stage_digests(folder))
    done, _ = best_val_line(folder, stage)
    log = read(stage_file(folder, stage, "train.log"))
    rows = card_table(folder, "set")
    for row in rows:
        logged = re.search(rf"^val {row[0]} @ {done.group(3)}: PSNR-Y ([\d.]+) dB \(bicubic "
                           rf"([\d.]+), gain ([+-][\d.]+)\) \| PSNR-RGB [\d.]+ \| SSIM-Y ([\d.]+)",
                           log, re.M)
        assert logged, row[0]
        assert row[1:5] == list(logged.groups()), row
    name = folder_id(folder)
    readme = [line for line in read(os.path.join(ROOT, "README.md")).splitlines()
              if line.startswith(f"| [{name}](pretrained/{name}/MODEL_CARD.md)")]
    cells = [cell.strip() for cell in readme[-1].strip("|").split("|")]
    shipped = load_yaml_documents(os.path.join(folder, "config.yaml"))[0]
    assert cells[2] == f"{count_params(AsConvSRConfig.from_dict(shipped)):,}"
    assert cells[-2:] == [f"{float(row[1]):.2f}" for row in rows]
