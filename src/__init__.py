"""AsConvSR for MindSpore. Importing the package applies the runtime environment defaults
(oneDNN ISA cap, quiet logging) before MindSpore loads; see src/runtime.py."""
from src.runtime import apply_env_defaults as _apply_env_defaults

_apply_env_defaults()
