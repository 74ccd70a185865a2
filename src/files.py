"""Small file helpers shared by every writer in the project: the one atomic write, file
modes, digests.

Every file the project writes goes through :func:`atomic_write`: the data lands in a
temporary file of the target's folder whose name ``tempfile.mkstemp`` made up and
created (so it cannot be anyone else's file), which then becomes the target in one
rename. The temporary file is removed on every failure path; only a killed process
(SIGKILL, power loss) can leave one, as a hidden ``.NAME.XXXXXXXX.tmp.EXT`` that nothing
deletes by pattern (a pattern could match a user's file).
"""
import contextlib
import errno
import hashlib
import os
import tempfile


def sha256_of(path):
    """Hex SHA-256 of the file at ``path``, read in 1 MiB blocks (checkpoints, archives)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_mode():
    """0666 minus the process umask (what ``open()`` gives a new file; 0644 usually)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def make_readable(path):
    """Give ``path`` the usual mode (mkstemp writes 0600, MindSpore's writers 0400)."""
    os.chmod(path, file_mode())


def remove_quietly(path):
    """Remove the file ``path`` if it is there; a failure to remove is not reported."""
    try:
        if path and os.path.isfile(path):
            os.remove(path)
    except OSError:
        pass


def temporary_file(path):
    """A new, empty file beside ``path`` under a name no one else has: hidden, holding
    ``path``'s name and ending in ``.tmp`` plus its extension (writers such as cv2 and
    MindSpore choose the format by the extension)."""
    folder, name = os.path.split(os.path.abspath(path))
    extension = os.path.splitext(name)[1]
    handle, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=f".tmp{extension}", dir=folder)
    os.close(handle)
    return tmp


def publish(tmp, path, overwrite):
    """Make the finished file ``tmp`` the file ``path``. Without ``overwrite`` the file is
    created exclusively: an existing ``path`` (one another process wrote since this one
    checked) raises FileExistsError naming it and is left as it is."""
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)          # fails with EEXIST instead of replacing
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, "the file exists (written meanwhile, by another "
                                            "run?)", path) from None
    except OSError as err:          # a file system without hard links (FAT, some shares)
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, "the file exists", path) from None
        os.replace(tmp, path)


@contextlib.contextmanager
def atomic_write(path, overwrite=True):
    """Yield a temporary path to write ``path``'s content to; when the block ends
    normally it gets mode 0666 minus the umask and becomes ``path`` (:func:`publish`,
    exclusive unless ``overwrite``). On any exception it is removed and ``path`` is
    untouched. The folder is created if needed.

        with atomic_write("out/report.json", overwrite=False) as tmp:
            with open(tmp, "w") as handle:
                json.dump(report, handle)
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = temporary_file(path)
    try:
        yield tmp
        make_readable(tmp)
        publish(tmp, path, overwrite)
    finally:
        remove_quietly(tmp)         # gone after a rename; after a hard link, the spare name


def write_text_atomic(path, text, overwrite=True):
    """Write the string ``text`` to ``path`` (UTF-8) through :func:`atomic_write`."""
    with atomic_write(path, overwrite) as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
    return path
