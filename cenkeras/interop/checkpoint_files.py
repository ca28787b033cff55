"""Reading state-dict files: PyTorch checkpoints (.pth / .pt) and NumPy archives (.npz)."""

from pathlib import Path

import numpy as np

from cenkeras.interop.torch_state_dict import StateDictError

# Keys under which training scripts commonly nest the model's state dict.
NESTED_KEYS = ("segmenter", "generator", "state_dict", "model")


def read_state_dict(path):
    """`{name: numpy array}` from a .pth/.pt file (needs torch) or a .npz archive.

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
    if path.suffix not in (".pth", ".pt"):
        raise StateDictError(f"{path}: expected a .pth/.pt (PyTorch) or .npz file.")
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
