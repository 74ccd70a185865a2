"""Images in and out of infer.py, keeping what the network does not model.

The network takes RGB in [0, 1]. Around it:
    greyscale   replicated to 3 channels; the output is the mean of the 3 output channels
    RGBA        the colour goes through the network; alpha is upscaled on its own by
                MATLAB-compatible bicubic resize (src.data.imresize), clipped, re-attached
    16-bit      read as float (/65535) and written back as 16-bit (PNG/TIFF); formats
                without 16-bit support (JPEG, BMP) get 8-bit
    8-bit       read /255, written rounded to 8-bit
Other sample types (float or 32-bit TIFF...) are refused with a message.
Files are decoded from bytes (np.fromfile + cv2.imdecode) so any path works, and
written atomically (temporary file + rename), mode 0666 minus the umask.
"""
import os
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from src.config import ConfigError
from src.deploy.outputs import make_readable, writing

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
SIXTEEN_BIT_EXTENSIONS = (".png", ".tif", ".tiff")
MAX_VALUE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


class ImageIOError(ConfigError):
    """An image that cannot be read or written; the message names the file."""


@dataclass
class DecodedImage:
    """rgb: (H, W, 3) float32 in [0, 1]; alpha: (H, W) float32 or None; grey: the file
    was single-channel; dtype: uint8 or uint16, the sample type of the file."""
    rgb: np.ndarray
    alpha: Optional[np.ndarray]
    grey: bool
    dtype: np.dtype


def decode(path, data):
    """Split cv2's IMREAD_UNCHANGED array into a DecodedImage."""
    if data.dtype not in MAX_VALUE:
        raise ImageIOError(f"'{path}': {data.dtype} samples are not supported; convert it to "
                           f"8- or 16-bit")
    scaled = data.astype(np.float32) / MAX_VALUE[data.dtype]
    if scaled.ndim == 3 and scaled.shape[2] == 1:
        scaled = scaled[:, :, 0]
    if scaled.ndim == 2:
        return DecodedImage(np.repeat(scaled[:, :, None], 3, axis=2), None, True, data.dtype)
    if scaled.shape[2] == 4:
        rgb = np.ascontiguousarray(scaled[:, :, 2::-1])          # BGRA -> RGB
        return DecodedImage(rgb, scaled[:, :, 3], False, data.dtype)
    if scaled.shape[2] == 3:
        return DecodedImage(np.ascontiguousarray(scaled[:, :, ::-1]), None, False, data.dtype)
    raise ImageIOError(f"'{path}': {scaled.shape[2]} channels; expected 1, 3 or 4")


def read_image(path):
    """Read a PNG/JPEG/BMP/TIFF/WebP file (8/16-bit; grey, RGB or RGBA)."""
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise ImageIOError(f"cannot read '{path}': {err.strerror}") from None
    data = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED) if raw.size else None
    if data is None:
        raise ImageIOError(f"'{path}' is not an image OpenCV can decode")
    return decode(path, data)


def upscale_alpha(alpha, scale, shape):
    """MATLAB-bicubic alpha upscaling, clipped to [0, 1] and cut to ``shape`` (H, W)."""
    from src.data.imresize import imresize
    big = imresize(alpha.astype(np.float64), scale)
    return np.clip(big, 0.0, 1.0)[:shape[0], :shape[1]].astype(np.float32)


def assemble_output(sr_rgb, source: DecodedImage, scale, extension):
    """The array to write for network output ``sr_rgb`` (sH, sW, 3) float: grey/alpha/bit
    depth restored as the module docstring says; BGR(A) order for OpenCV."""
    dtype = source.dtype if extension in SIXTEEN_BIT_EXTENSIONS else np.dtype(np.uint8)
    top = MAX_VALUE[np.dtype(dtype)]
    if source.grey:
        planes = [sr_rgb.mean(axis=2)]
    else:
        planes = [sr_rgb[:, :, 2], sr_rgb[:, :, 1], sr_rgb[:, :, 0]]
    if source.alpha is not None and extension not in (".jpg", ".jpeg", ".bmp"):
        planes.append(upscale_alpha(source.alpha, scale, sr_rgb.shape[:2]))
    stacked = np.stack(planes, axis=2) if len(planes) > 1 else np.array(planes[0])
    np.clip(stacked, 0.0, 1.0, out=stacked)          # in place: a 4K x2 plane set is 400 MB
    stacked *= top
    np.round(stacked, out=stacked)
    return stacked.astype(dtype)


def temp_path(path):
    """The hidden temporary file ``write_image`` renames to ``path``."""
    directory, name = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f".{name}.tmp{os.path.splitext(path)[1].lower()}")


def write_image(path, array):
    """Write atomically (a temporary file in the same folder, then a rename), mode 0666
    minus the umask. A write failure is one OutputError naming the path; the temporary
    file is removed."""
    extension = os.path.splitext(path)[1].lower()
    if extension not in IMAGE_EXTENSIONS:
        raise ImageIOError(f"output '{path}': unknown image extension; use one of "
                           f"{', '.join(IMAGE_EXTENSIONS)}")
    ok, encoded = cv2.imencode(extension, array)
    if not ok:
        raise ImageIOError(f"OpenCV could not encode '{path}' ({array.dtype}, {array.shape})")
    tmp = temp_path(path)
    with writing(path, tmp):
        os.makedirs(os.path.dirname(tmp), exist_ok=True)
        encoded.tofile(tmp)
        make_readable(tmp)
        os.replace(tmp, path)
    return path


def to_network_input(rgb):
    """(H, W, 3) float32 -> (1, 3, H, W) float32."""
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32)


def from_network_output(sr):
    """(1, 3, sH, sW) -> (sH, sW, 3)."""
    return sr[0].transpose(1, 2, 0)
