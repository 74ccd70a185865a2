"""AsConvSR for MindSpore.

Importing the package sets the process environment MindSpore reads when it loads (see
src/runtime.py for why): the oneDNN ISA cap that avoids the slow CPU convolution, and
quiet logging. A value the user exported wins. This is the one place they are set.
"""
import os
import sys

ENV_DEFAULTS = {
    # oneDNN: avoid the slow jit_uni_ncsp convolution on AVX-512 CPUs (src/runtime.py).
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    # MindSpore C++ logging: 3 = ERROR only.
    "GLOG_v": "3",
    # The same for MindSpore's Python-side submodules.
    "MS_SUBMODULE_LOG_v": "{ME:3}",
}

env_state = {"applied_before_mindspore": None}


def apply_env_defaults():
    """Set ENV_DEFAULTS unless already set; remember whether mindspore was loaded before."""
    if env_state["applied_before_mindspore"] is None:
        env_state["applied_before_mindspore"] = "mindspore" not in sys.modules
    for key, value in ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)


apply_env_defaults()
