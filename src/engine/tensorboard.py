"""TensorBoard event files of a training run (config key ``tensorboard``).

MindSpore's own ``SummaryRecord`` writes MindInsight's format, which TensorBoard does
not read; the event files here are written with tensorboardX (an optional dependency:
``pip install -r requirements-tensorboard.txt``), beside train.log in the run folder:
``tensorboard --logdir runs/asconvsr_x2``. Scalars: ``train/loss`` and ``train/lr`` at
every log line, ``val/psnr_y``, ``val/psnr_rgb`` and ``val/ssim_y`` at every validation.

A resumed run writes a new event file that starts with ``purge_step`` = its first
iteration, so TensorBoard drops what the interrupted run logged after its checkpoint
(as history.json is trimmed).
"""
import glob
import os
import struct

from src.config import ConfigError

PACKAGE = "tensorboardX"
EVENT_GLOB = "events.out.tfevents.*"


def check_installed():
    """ConfigError (one line naming the package) when tensorboardX does not import."""
    try:
        import tensorboardX  # noqa: F401
    except ImportError:
        raise ConfigError(f"config key 'tensorboard' is true but the {PACKAGE} package is "
                          f"not installed; pip install -r requirements-tensorboard.txt, "
                          f"or pass --tensorboard false") from None


def event_files(folder):
    """The run folder's event files, oldest first."""
    return sorted(glob.glob(os.path.join(folder, EVENT_GLOB)), key=os.path.getmtime)


class Scalars:
    """Scalar curves of one run; every method is a no-op when ``enabled`` is false (the
    key is off, or this rank does not write)."""

    def __init__(self, enabled):
        self.enabled = enabled
        self.writer = None
        if enabled:
            check_installed()

    def open(self, folder, first_iteration):
        """Start an event file in ``folder`` (after the run folder is prepared)."""
        if self.enabled:
            from tensorboardX import SummaryWriter
            purge = first_iteration if first_iteration > 1 else None
            self.writer = SummaryWriter(folder, purge_step=purge)

    def add(self, iteration, values):
        """Write {tag: float} at ``iteration`` and flush, so the curve is live."""
        if self.writer is None:
            return
        for tag, value in values.items():
            self.writer.add_scalar(tag, float(value), iteration)
        self.writer.flush()

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def read_scalars(path):
    """{tag: [(step, value)]} of one event file, parsed with tensorboardX's own Event
    protobuf (for tests and checks). The file is a TFRecord: per record a uint64
    length, its masked CRC32C (uint32), the serialized Event and the data's CRC32C;
    the CRCs are not checked here."""
    from tensorboardX.proto.event_pb2 import Event
    scalars = {}
    with open(path, "rb") as handle:
        while True:
            header = handle.read(12)
            if len(header) < 12:
                break
            (length,) = struct.unpack("<Q", header[:8])
            event = Event.FromString(handle.read(length))
            handle.read(4)
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars
