"""Safe outputs for infer.py, eval.py and export.py: never overwrite an input or an
earlier result unasked, check a folder is writable before long work, give written
files the usual mode (0666 minus the umask), and report write failures in one line.

    check_writable_folder(folder, "--save_dir")     # before the work starts
    refuse_existing(paths, overwrite, "choose another --save_dir")
    names = output_names(["x.png", "x.jpg", "y.png"], ".png")
    # {"x.png": "x_png.png", "x.jpg": "x_jpg.png", "y.png": "y.png"}
    with writing(path):                              # OSError -> OutputError naming path
        ...
"""
import contextlib
import os
import uuid

from src.config import ConfigError


class OutputError(ConfigError):
    """An output that cannot or must not be written; the message names the path."""


def file_mode():
    """0666 minus the process umask (what ``open()`` gives a new file; 0644 usually)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def make_readable(path):
    """Give ``path`` the usual mode (mkstemp and MindSpore's exporter write 0600/0400)."""
    os.chmod(path, file_mode())


def describe_os_error(path, err):
    return f"cannot write '{path}': {err.strerror or err}"


@contextlib.contextmanager
def writing(path, *temporaries):
    """Turn an OSError raised inside into a one-line OutputError naming ``path``, after
    removing the partial ``temporaries``."""
    try:
        yield
    except OSError as err:
        for tmp in temporaries:
            remove_quietly(tmp)
        raise OutputError(describe_os_error(getattr(err, "filename", None) or path, err)) \
            from None
    except BaseException:
        for tmp in temporaries:
            remove_quietly(tmp)
        raise


def remove_quietly(path):
    try:
        if path and os.path.isfile(path):
            os.remove(path)
    except OSError:
        pass


def check_writable_folder(folder, flag):
    """Create ``folder`` if needed and prove a file can be written in it (a file in the
    way, a read-only or full file system fail here, before any long work)."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise OutputError(f"{flag} '{folder}' is a file, not a folder")
    probe = os.path.join(folder, f".write_test_{uuid.uuid4().hex[:8]}")
    try:
        os.makedirs(folder, exist_ok=True)
        with open(probe, "wb") as handle:
            handle.write(b"0")
    except OSError as err:
        raise OutputError(f"{flag} '{folder}': "
                          f"{describe_os_error(err.filename or folder, err)}") from None
    finally:
        remove_quietly(probe)


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
