"""Reading weights trained by other frameworks (the official PyTorch CEN code, torchvision)."""

from cenkeras.interop.torch_state_dict import (
    LoadReport,
    StateDictError,
    load_torch_state_dict,
    normalize_torch_key,
    torch_variable_map,
)

__all__ = [
    "LoadReport",
    "StateDictError",
    "load_torch_state_dict",
    "normalize_torch_key",
    "torch_variable_map",
]
