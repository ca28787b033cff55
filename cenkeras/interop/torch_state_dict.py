"""Load PyTorch state dicts (official CEN checkpoints, torchvision ResNets) into cenkeras models.

cenkeras layers carry the names of the official PyTorch modules (`layer1.0.conv2`,
`layer1.0.bn2`, `conv3.insnorm_conv`, ...), so the mapping is by name:

- `module.` prefixes (DataParallel) and the `.module.` of the official
  `ModuleParallel` wrappers are dropped: `conv1.module.weight` -> `conv1.weight`.
- Convolution kernels go from OIHW (transposed convolutions: in, out, H, W)
  to Keras' HWIO (H, W, out, in): the same axis permutation (2, 3, 1, 0).
- The private norm m of a site `P` reads `P.bn_m.*` (or `P.insnorm_m.*`);
  weight/bias/running_mean/running_var become gamma/beta/moving_mean/moving_variance.
  A single-modality state dict (`P.weight`, e.g. a torchvision ResNet) is
  copied into all M private norms, as the official `expand_model_dict` does.
- With unshared convolutions (`P.stream_m`) the shared official kernel is
  copied into every stream.
- `alpha` is the ensemble's weight vector.

The state dict is a plain mapping `{name: numpy array}`; reading `.pth`
files (with torch, `weights_only=True`) is done by the caller.
"""

import dataclasses
import re

import keras
import numpy as np

from cenkeras.layers import InstanceNormalization, ModalityEnsemble, ParallelNormalization

_STREAM_SUFFIX = re.compile(r"\.stream_\d+$")
_NORM_FIELDS = {
    "weight": "gamma",
    "bias": "beta",
    "running_mean": "moving_mean",
    "running_var": "moving_variance",
}
# Keys reported, not listed, when a message would otherwise run for pages.
_MAX_LISTED = 25


class StateDictError(ValueError):
    """The state dict does not fit the model: lists missing, unexpected and mismatched keys."""


@dataclasses.dataclass
class LoadReport:
    """What `load_torch_state_dict` did."""

    loaded: list
    missing: list
    unexpected: list
    skipped_unused: list

    def summary(self):
        return (
            f"{len(self.loaded)} tensors loaded, {len(self.missing)} missing, "
            f"{len(self.unexpected)} unexpected, {len(self.skipped_unused)} known-unused skipped"
        )


@dataclasses.dataclass
class _Target:
    variable: object
    candidates: tuple  # torch keys to read from, the first present wins
    kernel: bool  # conv kernel: permute OIHW -> HWIO


def normalize_torch_key(key):
    """Drop DataParallel's leading `module.` and ModuleParallel's inner `.module.`."""
    while key.startswith("module."):
        key = key[len("module.") :]
    return key.replace(".module.", ".")


def kernel_to_keras(array):
    """OIHW (or IOHW for transposed convolutions) -> HWIO (HWOI)."""
    return np.transpose(array, (2, 3, 1, 0))


def kernel_to_torch(array):
    """Inverse of `kernel_to_keras` (e.g. to compare gradients with PyTorch's)."""
    return np.transpose(array, (3, 2, 0, 1))


def _norm_targets(norm, prefixes):
    targets = []
    for field, attr in _NORM_FIELDS.items():
        variable = getattr(norm, attr, None)
        if variable is not None:
            targets.append(_Target(variable, tuple(f"{p}.{field}" for p in prefixes), kernel=False))
    return targets


def _walk(model):
    """Top-level layers, descending into nested models but not into layers' own sublayers."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _walk(layer)
        else:
            yield layer


def _targets(model):
    targets = []
    for layer in _walk(model):
        mapped = len(targets)
        _add_layer_targets(layer, targets)
        covered = {id(target.variable) for target in targets[mapped:]}
        unmapped = [v.path for v in layer.weights if id(v) not in covered]
        if unmapped:
            # e.g. the gates of the gated-sum ablation, a conditional norm's MLP: the official
            # models have nothing to hold them, and leaving them out would be silently wrong.
            raise TypeError(f"No PyTorch mapping for {unmapped[:4]} of layer {layer.name!r} ({type(layer).__name__}).")
    return targets


def _add_layer_targets(layer, targets):
    """Append the `_Target`s of one layer's variables."""
    name = layer.name
    if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose)):
        base = _STREAM_SUFFIX.sub("", name)
        targets.append(_Target(layer.kernel, (f"{base}.weight",), kernel=True))
        if layer.use_bias:
            targets.append(_Target(layer.bias, (f"{base}.bias",), kernel=False))
    elif isinstance(layer, ParallelNormalization):
        if layer.share_norms:
            targets += _norm_targets(layer.norms[0], [name])
        else:
            prefix = "bn" if layer.norm == "batch" else "insnorm"
            for m, norm in enumerate(layer.norms):
                targets += _norm_targets(norm, [f"{name}.{prefix}_{m}", name])
        prefix = "bn" if layer.norm == "batch" else "insnorm"
        for m, norm in enumerate(layer.alone_norms):
            # Keys of their own (the official models have no such norms); a file without them
            # (ImageNet, an official checkpoint) starts each from the norm the stream uses with its partners.
            own = f"{name}.{prefix}_{m}"
            targets += _norm_targets(norm, [f"{own}_alone", own, name])
    elif isinstance(layer, (keras.layers.BatchNormalization, InstanceNormalization)):
        targets += _norm_targets(layer, [name])
    elif isinstance(layer, ModalityEnsemble):
        targets.append(_Target(layer.alpha, ("alpha",), kernel=False))


def torch_variable_map(model):
    """`{torch key: [(keras variable, is_kernel)]}` for every variable of `model`.

    Keys are the official (normalised, multi-modality) names; more than one
    variable stands behind a key when convolutions are unshared.
    """
    mapping = {}
    for target in _targets(model):
        mapping.setdefault(target.candidates[0], []).append((target.variable, target.kernel))
    return mapping


def export_torch_state_dict(model):
    """The model's weights as `{official PyTorch name: numpy array}` (OIHW kernels).

    The inverse of `load_torch_state_dict` for models with shared
    convolutions: the result loads into the official PyTorch model (with
    `strict=False` there, as `num_batches_tracked` buffers are not written).
    """
    state = {}
    for key, entries in torch_variable_map(model).items():
        if len(entries) > 1:
            raise ValueError(
                f"{key!r} stands for {len(entries)} variables (unshared convolutions): "
                "the official model has no equivalent."
            )
        variable, is_kernel = entries[0]
        array = keras.ops.convert_to_numpy(variable)
        state[key] = kernel_to_torch(array) if is_kernel else array
    return state


def _module_of(key):
    return key.rsplit(".", 1)[0]


def _listing(title, items):
    if not items:
        return ""
    shown = "\n".join(f"    {item}" for item in items[:_MAX_LISTED])
    more = f"\n    ... and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
    return f"\n  {title} ({len(items)}):\n{shown}{more}"


def load_torch_state_dict(model, state_dict, strict=True):
    """Load `{PyTorch name: array}` into a cenkeras model, all or nothing.

    Args:
        model: a cenkeras model (`CENRefineNet`, `CENUNetGenerator`,
            `PatchGANDiscriminator`, or any model built from their layers).
        state_dict: mapping of PyTorch parameter/buffer names to arrays
            (NumPy arrays, or anything `np.asarray` takes, e.g. CPU tensors).
        strict: raise when a model variable finds no key (missing) or a key
            finds no variable (unexpected). With `strict=False` those are
            only reported, e.g. to start a segmenter from a torchvision
            ImageNet ResNet (decoder missing, `fc` unexpected).

    Shape mismatches always raise. Nothing is assigned unless every check
    passes. Keys of modules the official code builds but never uses
    (`model.unused_torch_modules`) and `num_batches_tracked` buffers are
    skipped.

    Returns:
        A `LoadReport`.

    Examples:
        >>> from cenkeras.models import build_refinenet, tiny_options
        >>> model = build_refinenet(50, 5, ["rgb", "depth"], **tiny_options())
        >>> state_dict = export_torch_state_dict(model)  # an official checkpoint's keys and layouts
        >>> report = load_torch_state_dict(model, state_dict)
        >>> report.missing, report.unexpected
        ([], [])
    """
    normalized = {}
    for key, value in state_dict.items():
        short = normalize_torch_key(key)
        if short in normalized:
            raise StateDictError(f"Keys {key!r} and another one both map to {short!r}.")
        normalized[short] = value

    unused_modules = tuple(getattr(model, "unused_torch_modules", ()))
    assignments, missing, mismatched, used = [], [], [], set()
    for target in _targets(model):
        source = next((key for key in target.candidates if key in normalized), None)
        if source is None:
            missing.append(target.candidates[0])
            continue
        used.add(source)
        array = np.asarray(normalized[source], dtype=np.float32)
        if target.kernel and array.ndim == 4:
            array = kernel_to_keras(array)
        expected = tuple(target.variable.shape)
        if array.shape != expected:
            mismatched.append(
                f"{source}: checkpoint {tuple(np.shape(normalized[source]))} "
                f"-> {array.shape}, model {target.variable.path} {expected}"
            )
            continue
        assignments.append((target.variable, array, source))

    used_modules = {_module_of(key) for key in used}
    unexpected, skipped = [], []
    for key in normalized:
        if key in used:
            continue
        if any(key.startswith(module + ".") for module in unused_modules):
            skipped.append(key)
        elif key.endswith(".num_batches_tracked") and _module_of(key) in used_modules:
            continue
        else:
            unexpected.append(key)

    if mismatched or (strict and (missing or unexpected)):
        raise StateDictError(
            f"State dict does not fit model {model.name!r}:"
            + _listing("shape mismatches", mismatched)
            + _listing("missing keys (model variables with no key)", sorted(set(missing)))
            + _listing("unexpected keys (keys with no model variable)", unexpected)
        )
    for variable, array, _ in assignments:
        variable.assign(array.astype(variable.dtype))
    return LoadReport(
        loaded=sorted({source for _, _, source in assignments}),
        missing=sorted(set(missing)),
        unexpected=unexpected,
        skipped_unused=skipped,
    )
