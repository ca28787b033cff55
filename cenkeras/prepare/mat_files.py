"""Reading MATLAB files: v7.3 (HDF5, with h5py) and v5 (scipy), every problem named by file and field.

MATLAB stores arrays column-major; h5py shows a v7.3 array with its axes
reversed (an `H x W x 3 x N` image stack reads as `(N, 3, W, H)`), while
scipy gives v5 arrays in MATLAB's own axis order.
"""

from pathlib import Path

import numpy as np

from cenkeras.data.modalities import DataError


def _existing(path):
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"file not found: {path}")
    return path


def open_hdf5_mat(path):
    """An open `h5py.File` of a MATLAB v7.3 file (use it as a context manager)."""
    import h5py

    path = _existing(path)
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise DataError(
            f"{path} is not a MATLAB v7.3 (HDF5) file: {error}. "
            "NYUDv2's nyu_depth_v2_labeled.mat is v7.3; a truncated download cannot be read."
        ) from None


def hdf5_field(mat, name, path, ndim, dtype_kinds):
    """The dataset `name` of an open v7.3 file (not read yet), checked for rank and dtype kind."""
    if name not in mat:
        raise DataError(f"{path} has no field {name!r} (fields: {sorted(mat.keys())}).")
    field = mat[name]
    if not hasattr(field, "shape") or len(field.shape) != ndim:
        raise DataError(f"{path}: field {name!r} should have {ndim} axes, has shape {getattr(field, 'shape', None)}.")
    if field.dtype.kind not in dtype_kinds:
        raise DataError(f"{path}: field {name!r} has dtype {field.dtype}; expected kind {dtype_kinds!r}.")
    return field


def read_mat_fields(path, names):
    """`{name: array}` of the named fields of a v5 (scipy) or v7.3 (h5py) MATLAB file.

    v7.3 arrays are transposed back to MATLAB's axis order, so both
    versions give the same arrays.
    """
    import scipy.io

    path = _existing(path)
    try:
        contents = scipy.io.loadmat(str(path))
    except NotImplementedError:  # scipy's answer to v7.3
        with open_hdf5_mat(path) as mat:
            missing = [name for name in names if name not in mat]
            if missing:
                raise DataError(f"{path} has no field {missing} (fields: {sorted(mat.keys())}).") from None
            return {name: np.asarray(mat[name]).T for name in names}
    except (ValueError, TypeError, OSError) as error:
        raise DataError(f"cannot read {path} as a MATLAB file: {error}") from None
    missing = [name for name in names if name not in contents]
    if missing:
        fields = sorted(key for key in contents if not key.startswith("__"))
        raise DataError(f"{path} has no field {missing} (fields: {fields}).")
    return {name: contents[name] for name in names}


def index_vector(array, path, name, count):
    """A MATLAB vector of 1-based indices into `count` items, as a sorted 0-based int array."""
    values = np.asarray(array).reshape(-1)
    if values.size == 0 or values.dtype.kind not in "iuf" or np.any(values != np.round(values)):
        raise DataError(f"{path}: field {name!r} should hold whole 1-based indices, got {values[:5]} ...")
    values = values.astype(np.int64)
    if values.min() < 1 or values.max() > count:
        raise DataError(
            f"{path}: field {name!r} has indices {values.min()}..{values.max()}, outside 1..{count} "
            f"(the frames of the data file)."
        )
    if len(np.unique(values)) != len(values):
        raise DataError(f"{path}: field {name!r} lists a frame twice.")
    return np.sort(values) - 1
