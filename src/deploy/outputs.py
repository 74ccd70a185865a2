"""Safe outputs for infer.py, eval.py and export.py: never overwrite an input or an
earlier result unasked, check a folder is writable before long work, give written
files the usual mode (0666 minus the umask), and report write failures in one line.

    check_writable_folder(folder, "--save_dir")     # before the work starts
    refuse_existing(paths, overwrite, "choose another --save_dir")
    names = output_names(["x.png", "x.jpg", "y.png"], ".png")
    # {"x.png": "x_png.png", "x.jpg": "x_jpg.png", "y.png": "y.png"}
    with output_file(path, overwrite) as tmp:        # atomic; exclusive unless overwrite
        write_to(tmp)                                # OSError -> OutputError naming path
"""
import contextlib
import os

from src.config import ConfigError
from src.files import atomic_write, temporary_file


class OutputError(ConfigError):
    """An output that cannot or must not be written; the message names the path."""


class OutputExistsError(OutputError):
    """An output that appeared after the start-up check (another run wrote it): the
    input it belongs to is skipped, the file is left as it is."""


def describe_os_error(path, err):
    return f"cannot write '{path}': {err.strerror or err}"


def appeared(path):
    """The OutputExistsError for an output that exists although the start-up check
    found none."""
    return OutputExistsError(f"output '{path}' exists: it was written after this run "
                             f"checked (by another run?); it is left as it is, pass "
                             f"--overwrite to replace it")


@contextlib.contextmanager
def writing(path):
    """Turn an OSError raised inside into a one-line OutputError naming ``path``
    (OutputExistsError when the file is there already)."""
    try:
        yield
    except FileExistsError as err:
        raise appeared(err.filename or path) from None
    except OSError as err:
        raise OutputError(describe_os_error(getattr(err, "filename", None) or path, err)) \
            from None


@contextlib.contextmanager
def output_file(path, overwrite):
    """:func:`src.files.atomic_write` of a user-named output, its OSErrors as one-line
    OutputErrors: yields the temporary path to write to. Without ``overwrite`` the file
    is created exclusively (checked at the moment of writing, not only at start-up)."""
    with writing(path), atomic_write(path, overwrite) as tmp:
        yield tmp


def check_writable_folder(folder, flag):
    """Create ``folder`` if needed and prove a file can be written in it (a file in the
    way, a read-only or full file system fail here, before any long work)."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise OutputError(f"{flag} '{folder}' is a file, not a folder")
    try:
        os.makedirs(folder, exist_ok=True)
        os.remove(temporary_file(os.path.join(folder, "write-test")))
    except OSError as err:
        raise OutputError(f"{flag} '{folder}': "
                          f"{describe_os_error(err.filename or folder, err)}") from None


def same_path(a, b):
    return os.path.realpath(a) == os.path.realpath(b)


def output_names(file_names, extension, suffix=""):
    """{input file name: output file name}: ``stem + suffix + extension``, or, when two
    inputs share a stem (x.png and x.jpg), ``stem_ext + suffix + extension`` for each of
    them (x_png.png, x_jpg.png), so no result overwrites another."""
    stems = [os.path.splitext(name)[0] for name in file_names]
    names = {}
    for name, stem in zip(file_names, stems):
        if stems.count(stem) > 1:
            stem = f"{stem}_{os.path.splitext(name)[1].lstrip('.').lower()}"
        names[name] = f"{stem}{suffix}{extension}"
    if len(set(names.values())) != len(names):       # x.png + x_png.jpg + x_png.png ...
        names = {name: f"{name.replace('.', '_')}{suffix}{extension}" for name in file_names}
    return names


def refuse_inputs(targets, inputs, hint):
    """OutputError when an output path is one of the input files."""
    real_inputs = {os.path.realpath(path) for path in inputs}
    for target in targets:
        if os.path.realpath(target) in real_inputs:
            raise OutputError(f"output '{target}' would overwrite the input file of that "
                              f"name; {hint}")


def refuse_existing(targets, overwrite, alternative):
    """OutputError naming the first of ``targets`` that exists, unless ``overwrite``:
    an earlier result is replaced only when the user asks (``--overwrite``)."""
    existing = [target for target in targets if os.path.lexists(target)]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise OutputError(f"output '{existing[0]}' exists{more}; pass --overwrite to replace "
                          f"it, or {alternative}")
