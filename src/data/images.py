"""Image files for the whole project: reading as uint8 RGB, listing folders, writing PNGs.

Conventions of :func:`read_rgb` (every conversion logs one WARNING line naming the
file through the ``src.data`` logger; unconfigured logging prints it on stderr):

* unreadable, not an image, or truncated (a JPEG without its end marker, a PNG
  whose data stops early: OpenCV may silently return a partly grey image, so the
  file is also fully decoded by Pillow when available) -> :class:`ImageError`;
* greyscale (1 channel) -> the channel repeated to RGB;
* RGBA / grey+alpha -> alpha dropped (training data wants the colour only);
* 16-bit -> scaled to 8-bit by round(v * 255 / 65535); float images (TIFF/EXR) ->
  clipped to [0, 1] and scaled to 0..255;
* colour order returned is RGB (OpenCV reads BGR).
"""
import io
import logging
import os
import tempfile

import cv2
import numpy as np

from src.config import ConfigError

LOGGER = logging.getLogger("src.data")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class ImageError(ConfigError):
    """A file that cannot be used as an image; ``str()`` is a one-line message."""

    def __init__(self, path, reason, hint="replace or remove the file"):
        self.path, self.reason = str(path), reason
        super().__init__(f"cannot use image '{path}': {reason}; {hint}")


def warn_conversion(path, what):
    """Report one conversion of ``path`` as a one-line warning."""
    LOGGER.warning("'%s': %s", path, what)


def read_rgb(path, quiet=False) -> np.ndarray:
    """Read ``path`` as a uint8 HxWx3 RGB array (conversions: module docstring).

    Raises:
        ImageError: missing/unreadable/undecodable/truncated file.
    """
    raw = read_bytes(path)
    if raw.size == 0:
        raise ImageError(path, "the file is empty")
    image = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)
    reason = truncation_reason(raw)
    if image is None or reason:
        raise ImageError(path, reason or "not an image OpenCV can decode "
                                         "(corrupt or unsupported format)")
    if image.ndim == 3 and image.shape[2] not in (1, 3, 4):
        raise ImageError(path, f"has {image.shape[2]} channels; expected 1, 3 or 4")
    return to_uint8_rgb(image, path, quiet)


def read_bytes(path):
    """The file's bytes as uint8 (np.fromfile copes with non-ASCII paths)."""
    try:
        return np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise ImageError(path, "file not found", "check the path") from None
    except OSError as err:
        raise ImageError(path, f"cannot read it ({err.strerror or err})") from None


PNG_SIGNATURE, PNG_END = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"
JPEG_START, JPEG_END = b"\xff\xd8\xff", b"\xff\xd9"


def ends_cleanly(raw):
    """True for a PNG ending in its IEND chunk or a JPEG ending in its EOI marker
    (the fast path: a cut file has lost its end)."""
    head, tail = bytes(raw[:8]), bytes(raw[-16:]).rstrip(b"\x00\r\n ")
    return ((head == PNG_SIGNATURE and tail.endswith(PNG_END))
            or (head[:3] == JPEG_START and tail.endswith(JPEG_END)))


def truncation_reason(raw):
    """Why the encoded bytes are incomplete, or None. Files that end cleanly pass;
    others (other formats, JPEGs with trailing data) must survive Pillow's full
    decode, which raises on cut data that OpenCV may pad with grey. Without Pillow
    only PNG/JPEG end markers are checked."""
    if ends_cleanly(raw):
        return None
    try:
        from PIL import Image
    except ImportError:
        if bytes(raw[:8]) == PNG_SIGNATURE or bytes(raw[:3]) == JPEG_START:
            return "image data is truncated (no end marker)"
        return None
    try:
        with Image.open(io.BytesIO(raw.tobytes())) as pil_image:
            pil_image.load()
    except Image.UnidentifiedImageError:     # a format Pillow lacks, OpenCV decoded it
        return None
    except (OSError, SyntaxError, ValueError) as err:
        return f"image data is truncated or corrupt ({str(err).splitlines()[0]})"
    return None


def to_uint8_rgb(image, path, quiet=False):
    """Convert a decoded OpenCV array (BGR order) to uint8 RGB, warning per change."""
    if image.dtype != np.uint8:
        image = to_uint8(image, path, quiet)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        if not quiet:
            warn_conversion(path, "greyscale image converted to RGB (channel repeated)")
        return np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2))
    if image.shape[2] == 4:
        if not quiet:
            warn_conversion(path, "alpha channel dropped (RGBA -> RGB)")
        image = image[:, :, :3]
    return np.ascontiguousarray(image[:, :, ::-1])


def to_uint8(image, path, quiet=False):
    """16-bit -> 8-bit by round(v * 255 / 65535); float -> clip [0, 1] * 255."""
    if image.dtype == np.uint16:
        if not quiet:
            warn_conversion(path, "16-bit image scaled to 8-bit")
        return np.round(image.astype(np.float64) * (255.0 / 65535.0)).astype(np.uint8)
    if np.issubdtype(image.dtype, np.floating):
        if not quiet:
            warn_conversion(path, "floating-point image clipped to [0, 1] and scaled to 8-bit")
        return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    raise ImageError(path, f"pixel type {image.dtype} is not supported (use 8/16-bit)")


def list_images(folder, flag="--data_dir") -> list:
    """Sorted paths of the image files directly inside ``folder`` (extensions in
    :data:`IMAGE_EXTENSIONS`, any case). Raises ConfigError for a missing or empty
    folder; its hint names ``flag``, the caller's flag for the folder."""
    folder = str(folder)
    if not os.path.isdir(folder):
        raise ConfigError(f"data folder '{folder}' does not exist; run "
                          f"scripts/prepare_data.sh or pass {flag}")
    paths = sorted(os.path.join(folder, name) for name in os.listdir(folder)
                   if name.lower().endswith(IMAGE_EXTENSIONS)
                   and os.path.isfile(os.path.join(folder, name)))
    if not paths:
        raise ConfigError(f"data folder '{folder}' has no image files "
                          f"({', '.join(IMAGE_EXTENSIONS)}); run scripts/prepare_data.sh "
                          f"or pass {flag}")
    return paths


def write_png(path, img_uint8_rgb):
    """Write a uint8 HxWx3 RGB (or HxW grey) array as PNG, atomically: a temporary
    file in the same folder, then ``os.replace`` (no half-written file on a crash)."""
    img = np.asarray(img_uint8_rgb)
    if img.dtype != np.uint8 or img.ndim not in (2, 3):
        raise ValueError(f"write_png('{path}'): expected a uint8 HxW[x3] array, "
                         f"got {img.dtype} {img.shape}")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    ok, encoded = cv2.imencode(".png", img[:, :, ::-1] if img.ndim == 3 else img)
    if not ok:
        raise ValueError(f"write_png('{path}'): PNG encoding failed")
    handle, tmp = tempfile.mkstemp(prefix=".tmp_", suffix=".png", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(encoded.tobytes())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
