"""Build data/train and data/val reproducibly from registry packages (no web downloads).

    python -m src.data.prepare [--data_dir data] [--cache_dir DATA_DIR/.cache]
    python -m src.data.prepare make_lr --hr_dir D --scale 2 [3 ...] --out_dir D_LR
    python -m src.data.prepare make_multiscale --hr_dir D --factors 0.75 0.5 --out_dir D_MS

* train/: the hand-picked photographs listed in ``src/data/manifest.json`` from the
  Debian packages lomiri-wallpapers-16.04, mate-backgrounds (nature/),
  plasma-workspace-wallpapers and opencv-doc (examples/data). Each .deb is fetched
  with ``apt-get download`` into the cache (no installation; ``apt-get update`` is
  run once only if the download fails for lack of package lists), the listed files
  are extracted (``dpkg-deb --fsys-tarfile``, as ``dpkg -x`` would), their sha256 is
  checked, and each photo is stored as PNG with its longer side reduced to at most
  ``train_max_side`` (2040, DIV2K-like) by MATLAB bicubic (``imresize_uint8``),
  which also softens JPEG artefacts.
* val/: RGB photographs shipped inside the Python packages scikit-image,
  scikit-learn and matplotlib, plus opencv-doc's baboon.jpg, stored as PNG at their
  original size.
* Idempotent: an existing output PNG is kept (writes are atomic). A source whose
  sha256 differs from the manifest (the package version moved on) is skipped with a
  warning; the build continues with what matches and says so at the end.
"""
import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile

from src.images import ImageError, list_images, read_rgb, write_png
from src.data.imresize import imresize_uint8
from src.files import atomic_write, sha256_of, write_text_atomic

MANIFEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "manifest.json")


class PrepareError(RuntimeError):
    """A step that cannot go on; ``str()`` says what to do."""


FAILURES = []          # fetch errors of this run, for the final message


def say(message):
    print(f"[prepare_data] {message}", flush=True)


def warn(message):
    print(f"[prepare_data] WARNING: {message}", file=sys.stderr, flush=True)


def load_manifest(path=MANIFEST):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


# ---------------------------------------------------------------- Debian packages

def deb_version(deb_path):
    """The Version field of a .deb (dpkg-deb, else parsed from the file name)."""
    if shutil.which("dpkg-deb"):
        result = subprocess.run(["dpkg-deb", "-f", deb_path, "Version"],
                                capture_output=True, text=True)
        if result.returncode == 0:
            return result.stdout.strip()
    return os.path.basename(deb_path).split("_")[1].replace("%3a", ":")


def cached_debs(package, cache_dir):
    return sorted(os.path.join(cache_dir, name) for name in os.listdir(cache_dir)
                  if name.startswith(package + "_") and name.endswith(".deb"))


def apt_download(spec, cache_dir):
    """Run ``apt-get download spec`` in ``cache_dir``; returns (ok, stderr tail)."""
    result = subprocess.run(["apt-get", "download", "-q", spec], cwd=cache_dir,
                            capture_output=True, text=True)
    return result.returncode == 0, (result.stderr.strip().splitlines() or [""])[-1]


def fetch_deb(package, version, cache_dir):
    """Path of ``package``'s .deb in ``cache_dir``, downloading it if needed: the
    manifest's version first, else the repository's current one (then the sha256
    checks decide which files can still be used)."""
    os.makedirs(cache_dir, exist_ok=True)
    debs = cached_debs(package, cache_dir)
    exact = [deb for deb in debs if deb_version(deb) == version]
    if exact or debs:
        return (exact or debs)[-1]
    if not shutil.which("apt-get"):
        raise PrepareError(f"apt-get not found: the training photos come from Debian "
                           f"packages ({package}); run on Debian/Ubuntu or copy "
                           f"{package}_*.deb into '{cache_dir}'")
    for attempt in ("cached lists", "after apt-get update"):
        for spec in (f"{package}={version}", package):
            ok, error = apt_download(spec, cache_dir)
            if ok:
                say(f"downloaded {spec} with apt-get")
                return cached_debs(package, cache_dir)[-1]
        if attempt == "cached lists":
            say(f"apt-get download {package} failed ({error}); running apt-get update")
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, text=True)
    raise PrepareError(f"apt-get download {package} failed: {error}. Needs root (or "
                       f"sudo) for apt-get update and Debian bookworm's main archive; "
                       f"or copy {package}_*.deb into '{cache_dir}'")


def open_deb_data(deb_path):
    """(tar stream, process or None) of a .deb's file tree."""
    if shutil.which("dpkg-deb"):
        process = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", deb_path],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return tarfile.open(fileobj=process.stdout, mode="r|"), process
    handle = open(deb_path, "rb")                       # ar archive, pure Python
    if handle.read(8) != b"!<arch>\n":
        raise PrepareError(f"'{deb_path}' is not a .deb; delete it and rerun")
    while True:
        header = handle.read(60)
        if len(header) < 60:
            raise PrepareError(f"'{deb_path}' has no data.tar member; delete it and rerun")
        name, size = header[:16].decode().strip().rstrip("/"), int(header[48:58])
        if name.startswith("data.tar"):
            return tarfile.open(fileobj=handle, mode="r|*"), None
        handle.seek(size + size % 2, os.SEEK_CUR)


def extract_files(deb_path, paths, target_dir):
    """Extract ``paths`` (inside the package, no leading ./) into ``target_dir``,
    skipping those already there. Returns the paths that the .deb lacks."""
    wanted = {p for p in paths if not os.path.isfile(os.path.join(target_dir, p))}
    if not wanted:
        return []
    stream, process = open_deb_data(deb_path)
    with stream:
        for member in stream:
            name = member.name[2:] if member.name.startswith("./") else member.name
            if name in wanted and member.isfile():
                out_path = os.path.join(target_dir, name)
                os.makedirs(os.path.dirname(out_path), exist_ok=True)
                with stream.extractfile(member) as source, atomic_write(out_path) as tmp, \
                        open(tmp, "wb") as out:
                    shutil.copyfileobj(source, out)
                wanted.discard(name)
                if not wanted:
                    break
    if process:                      # an early stop kills dpkg-deb by SIGPIPE: expected
        process.stdout.close()
        error = process.stderr.read().decode(errors="replace").strip()
        if process.wait() != 0 and wanted:
            raise PrepareError(f"dpkg-deb could not read '{deb_path}' ({error}); "
                               f"delete it and rerun")
    return sorted(wanted)


# ---------------------------------------------------------------- building the folders

def verified_source(path, expected_sha, label):
    """``path`` if it exists and its sha256 matches, else None with a warning."""
    if path is None:
        warn(f"{label}: its package is not available; skipped")
        return None
    if not os.path.isfile(path):
        warn(f"{label}: source file missing ({path}); skipped")
        return None
    actual = sha256_of(path)
    if actual != expected_sha:
        warn(f"{label}: sha256 of {path} is {actual[:12]}..., the manifest says "
             f"{expected_sha[:12]}... (package version changed?); skipped, not replaced "
             f"by a different image")
        return None
    return path


def shrink_to_max_side(image, max_side):
    """MATLAB-bicubic downscale so the longer side is at most ``max_side``."""
    longer = max(image.shape[:2])
    return image if longer <= max_side else imresize_uint8(image, max_side / longer)


def package_sources(entries, cache_dir, packages):
    """{package: extracted-tree dir, or None when it could not be fetched} for every
    package the entries use, fetching and extracting only the files listed. A
    package that cannot be fetched is reported and its images skipped."""
    trees = {}
    for package in sorted({e["package"] for e in entries}):
        version = packages[package]["version"]
        try:
            deb = fetch_deb(package, version, os.path.join(cache_dir, "debs"))
        except PrepareError as err:
            warn(f"{err}; skipping its images")
            FAILURES.append(str(err))
            trees[package] = None
            continue
        found = deb_version(deb)
        if found != version:
            warn(f"{package}: the archive has version {found}, the manifest lists "
                 f"{version}; using the files whose sha256 still matches")
        tree = os.path.join(cache_dir, "tree", package, found.replace(":", "_"))
        paths = [e["path"] for e in entries if e["package"] == package]
        paths.append(f"usr/share/doc/{package}/copyright")
        for missing in extract_files(deb, paths, tree):
            warn(f"{package} {found} has no file {missing}")
        trees[package] = tree
    return trees


def source_path(entry, trees):
    """Where the entry's source file is (None: its package could not be fetched)."""
    if "package" not in entry:
        try:
            return pip_file(entry["file"])
        except PrepareError as err:
            warn(str(err))
            return None
    tree = trees.get(entry["package"])
    return os.path.join(tree, entry["path"]) if tree else None


def build_split(manifest, data_dir, cache_dir, split, finish=lambda image: image):
    """data_dir/<split> from the manifest's entries of that split: each source checked
    against its sha256, ``finish`` applied, written as PNG; files already there are kept.
    Returns (made, kept, skipped)."""
    out_dir = os.path.join(data_dir, split)
    todo = [e for e in manifest[split] if not os.path.isfile(os.path.join(out_dir, e["name"]))]
    kept = len(manifest[split]) - len(todo)
    debs = [e for e in todo if "package" in e]
    trees = package_sources(debs, cache_dir, manifest["packages"]) if debs else {}
    made, skipped = 0, []
    for entry in todo:
        label = f"{split}/{entry['name']}"
        source = verified_source(source_path(entry, trees), entry["sha256"], label)
        if source is None:
            skipped.append(entry["name"])
            continue
        image = finish(read_rgb(source, quiet=True))
        write_png(os.path.join(out_dir, entry["name"]), image)
        made += 1
        origin = f" from {entry['package']}:/{entry['path']}" if "package" in entry else ""
        say(f"{label}: {image.shape[1]}x{image.shape[0]}{origin}")
    return made, kept, skipped


def build_train(manifest, data_dir, cache_dir):
    """data_dir/train: the photos downscaled to the manifest's train_max_side."""
    return build_split(manifest, data_dir, cache_dir, "train",
                       lambda image: shrink_to_max_side(image, manifest["train_max_side"]))


def pip_file(relative_path):
    """Absolute path of a file shipped in an installed Python package
    (``skimage/data/astronaut.png``), located without importing the package."""
    top = relative_path.split("/")[0]
    spec = importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        raise PrepareError(f"Python package '{top}' is not installed; run scripts/setup.sh")
    return os.path.join(list(spec.submodule_search_locations)[0],
                        *relative_path.split("/")[1:])


def build_val(manifest, data_dir, cache_dir):
    """data_dir/val: the val images as they are."""
    return build_split(manifest, data_dir, cache_dir, "val")


def write_attribution(manifest, data_dir):
    """data_dir/ATTRIBUTION.txt: author, licence and origin of every image."""
    lines = ["Images in train/ and val/ (built by scripts/prepare_data.sh; see docs/data.md).",
             "train/ photos were downscaled (longer side <= "
             f"{manifest['train_max_side']} px, MATLAB bicubic) and re-encoded as PNG.", ""]
    for split in ("train", "val"):
        for e in manifest[split]:
            origin = (f"Debian {e['package']} {e['version']}: /{e['path']}" if "package" in e
                      else f"pip {e['pip']}: {e['file']}")
            author = f"{e['author']}; " if "author" in e else ""
            lines.append(f"{split}/{e['name']}: {author}{e['licence']}; {origin}")
    write_text_atomic(os.path.join(data_dir, "ATTRIBUTION.txt"), "\n".join(lines) + "\n")


def derive_folder(hr_dir, targets_of, derive, overwrite=False):
    """For each image of ``hr_dir``: ``targets_of(stem)`` -> {key: output path}; writes
    ``derive(hr, key)`` as PNG to each path not there yet (every path if ``overwrite``).
    Unreadable images are skipped with a warning. Returns (written, kept, skipped)."""
    written = kept = 0
    skipped = []
    for path in list_images(hr_dir):
        targets = targets_of(os.path.splitext(os.path.basename(path))[0])
        todo = {key: t for key, t in targets.items() if overwrite or not os.path.isfile(t)}
        kept += len(targets) - len(todo)
        if not todo:
            continue
        try:
            hr = read_rgb(path)
        except ImageError as err:
            warn(f"skipped: {err}")
            skipped.append(path)
            continue
        for key, target in todo.items():
            write_png(target, derive(hr, key), overwrite)
            written += 1
    return written, kept, skipped


def make_lr_folder(hr_dir, scales, out_dir, overwrite=False):
    """DIV2K-layout LR folders: ``out_dir/X{s}/{stem}x{s}.png`` = imresize_uint8 of
    the HR image mod-cropped to s. Existing files are kept unless ``overwrite``;
    unreadable HR files are skipped with a warning. Returns (written, kept, skipped)."""
    from src.data.dataset import check_scale, mod_crop
    scales = [check_scale(s) for s in scales]
    return derive_folder(
        hr_dir, lambda stem: {s: os.path.join(out_dir, f"X{s}", f"{stem}x{s}.png")
                              for s in scales},
        lambda hr, s: imresize_uint8(mod_crop(hr, s), 1.0 / s), overwrite)


def multiscale_name(stem, factor):
    """``{stem}_s75`` for factor 0.75: the file stem of a downscaled copy."""
    return f"{stem}_s{int(round(factor * 100))}"


def make_multiscale_folder(hr_dir, factors, out_dir, overwrite=False, keep_original=True):
    """A training folder holding every HR image of ``hr_dir`` as PNG (``{stem}.png``,
    unless ``keep_original`` is False) and, for each factor f in (0, 1), a copy
    downscaled by f with MATLAB bicubic (``{stem}_s{100 f}.png``). Like BasicSR's
    multi-scale DF2K, it gives a small photo set more detail per pixel: a downscaled
    photo is sharper than the original. Patches are drawn in proportion to area, so
    the originals dominate a mixed folder; copies alone put every patch at the new
    scale. Existing files are kept unless ``overwrite``; unreadable images are skipped
    with a warning. Returns (written, kept, skipped)."""
    factors = [float(f) for f in factors]
    bad = [f for f in factors if not 0.0 < f < 1.0]
    if bad or len({multiscale_name("", f) for f in factors}) != len(factors):
        raise ValueError(f"--factors must be distinct downscale factors in (0, 1) (the "
                         f"original is 1: kept unless --copies_only), got {factors}")

    def targets_of(stem):
        names = {**({1.0: stem} if keep_original else {}),
                 **{f: multiscale_name(stem, f) for f in factors}}
        return {f: os.path.join(out_dir, f"{name}.png") for f, name in names.items()}

    return derive_folder(hr_dir, targets_of,
                         lambda hr, f: hr if f == 1.0 else imresize_uint8(hr, f), overwrite)


def prepare(data_dir="data", cache_dir=None, splits=("train", "val"), manifest_path=MANIFEST):
    """Build the requested splits; returns {split: (made, kept, skipped names)}."""
    manifest = load_manifest(manifest_path)
    cache_dir = cache_dir or os.path.join(data_dir, ".cache")
    builders = {"train": build_train, "val": build_val}
    results = {split: builders[split](manifest, data_dir, cache_dir) for split in splits}
    write_attribution(manifest, data_dir)
    for split, (made, kept, skipped) in results.items():
        total = len(manifest[split])
        say(f"{split}: {made} written, {kept} already there, {len(skipped)} skipped "
            f"-> {made + kept} of {total} images in {os.path.join(data_dir, split)}")
        if skipped:
            listed = ", ".join(skipped[:6]) + (f" and {len(skipped) - 6} more"
                                               if len(skipped) > 6 else "")
            warn(f"{split}: continuing without {listed} (see warnings above)")
        if made + kept == 0:
            reason = FAILURES[0] if FAILURES else "see the warnings above"
            raise PrepareError(f"no {split} image could be built: {reason}")
    return results


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["make_lr"]:
        parser = argparse.ArgumentParser(prog="make_lr", description=make_lr_folder.__doc__)
        parser.add_argument("--hr_dir", required=True)
        parser.add_argument("--scale", type=int, nargs="+", required=True)
        parser.add_argument("--out_dir", required=True)
        parser.add_argument("--overwrite", action="store_true")
        args = parser.parse_args(argv[1:])
        written, kept, skipped = make_lr_folder(args.hr_dir, args.scale, args.out_dir,
                                                args.overwrite)
        print(f"[make_lr] {written} LR files written, {kept} already there, "
              f"{len(skipped)} HR files skipped -> {args.out_dir}", flush=True)
        return 0
    if argv[:1] == ["make_multiscale"]:
        parser = argparse.ArgumentParser(prog="make_multiscale",
                                         description=make_multiscale_folder.__doc__)
        parser.add_argument("--hr_dir", required=True)
        parser.add_argument("--factors", type=float, nargs="+", default=[0.75, 0.5])
        parser.add_argument("--out_dir", required=True)
        parser.add_argument("--copies_only", action="store_true",
                            help="write only the downscaled copies, not the originals")
        parser.add_argument("--overwrite", action="store_true")
        args = parser.parse_args(argv[1:])
        written, kept, skipped = make_multiscale_folder(args.hr_dir, args.factors,
                                                        args.out_dir, args.overwrite,
                                                        keep_original=not args.copies_only)
        print(f"[make_multiscale] {written} images written, {kept} already there, "
              f"{len(skipped)} HR files skipped -> {args.out_dir}", flush=True)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", default="data")
    parser.add_argument("--cache_dir", default=None, help="default: DATA_DIR/.cache")
    parser.add_argument("--splits", nargs="+", default=["train", "val"], choices=["train", "val"])
    args = parser.parse_args(argv)
    prepare(args.data_dir, args.cache_dir, args.splits)
    return 0


def cli(argv, prog):
    """``main(argv)`` for a command line: a PrepareError or ValueError becomes one line,
    ``[prog] error: ...``, and exit status 1."""
    try:
        return main(argv)
    except (PrepareError, ValueError) as err:
        print(f"[{prog}] error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:], "prepare_data"))
