"""Reading state-dict files: PyTorch checkpoints (.pth / .pt), safetensors files and NumPy archives (.npz).

The torchvision ImageNet ResNets are published as `.safetensors` with
torchvision's key names (e.g. timm's `resnet101.tv_in1k`); those, like
`.npz` archives, are read with NumPy alone: no torch, no pickle.
"""

from pathlib import Path

import numpy as np

from cenkeras.interop.torch_state_dict import StateDictError

# Keys under which training scripts commonly nest the model's state dict.
NESTED_KEYS = ("segmenter", "generator", "state_dict", "model")


def read_state_dict(path):
    """`{name: numpy array}` from a .pth/.pt file (needs torch), a .safetensors file or a .npz archive.

    PyTorch files are read with `torch.load(weights_only=True)`: tensors and
    plain containers only, no pickled code. A checkpoint that nests the
    weights (`{"segmenter": state_dict, "epoch": ...}` as the official code
    saves it) is unwrapped.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise StateDictError(f"weights file not found: {path}")
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as archive:
                return {key: archive[key] for key in archive.files}
        except (ValueError, OSError) as error:  # pickled object arrays, a broken archive
            raise StateDictError(f"cannot read {path} as a NumPy archive of arrays: {error}") from None
    if path.suffix == ".safetensors":
        return read_safetensors(path)
    if path.suffix not in (".pth", ".pt"):
        raise StateDictError(f"{path}: expected a .pth/.pt (PyTorch), .safetensors or .npz file.")
    try:
        import torch
    except ImportError:
        raise StateDictError(f"reading {path} needs PyTorch: pip install 'cenkeras[torch]'.")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a bad file
        raise StateDictError(f"cannot read {path} as a PyTorch checkpoint: {error}")
    for key in NESTED_KEYS:
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
            break
    if not isinstance(checkpoint, dict):
        raise StateDictError(f"{path} does not hold a state dict (got {type(checkpoint).__name__}).")
    return {key: value.detach().cpu().numpy() for key, value in checkpoint.items() if hasattr(value, "detach")}


def read_safetensors(path):
    """`{name: numpy array}` of a .safetensors file, through the library's NumPy API (no torch)."""
    try:
        from safetensors import SafetensorError
        from safetensors.numpy import load_file
    except ImportError:
        raise StateDictError(f"reading {path} needs safetensors: pip install 'cenkeras[safetensors]'.") from None
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, TypeError) as error:  # a truncated or foreign file
        raise StateDictError(f"cannot read {path} as a safetensors file: {error}") from None
