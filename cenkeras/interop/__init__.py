"""Reading weights trained by other frameworks (the official PyTorch CEN code, torchvision)."""

from cenkeras.interop.checkpoint_files import read_state_dict
from cenkeras.interop.torch_state_dict import (
    LoadReport,
    StateDictError,
    export_torch_state_dict,
    load_torch_state_dict,
    normalize_torch_key,
    torch_variable_map,
)

__all__ = [
    "LoadReport",
    "StateDictError",
    "export_torch_state_dict",
    "load_torch_state_dict",
    "normalize_torch_key",
    "read_state_dict",
    "torch_variable_map",
]
