"""Run an ONNX, LiteRT or OpenVINO export (`cenkeras.serving.export_formats`) with the format's own runtime.

`open_export(path)` takes the export folder or the model file in it and
returns an `ExportedModel`: called with raw images `{input: (B, H, W, C)}`,
it checks them as `cenkeras.serving.export.serving_call` does (names, dtypes,
channels, sizes; errors name the input) and returns the outputs as NumPy
arrays, named as the SavedModel's. `open_export(path, inputs)` opens the
file of a subset of the inputs (a missing modality); `export_input_sets`
lists every input set an export serves, each file opened on first use.
"""

import json
import os
from pathlib import Path

import numpy as np

from cenkeras.data.modalities import DataError
from cenkeras.serving.export_formats import FORMATS, METADATA_FILE, require_format
from cenkeras.layers.preprocessing import ModalityPreprocessor


def find_export(path):
    """`(full set's model file, format)` if `path` is an export folder or a model file in one
    (the full set's or a subset's), else None."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    if not (folder / METADATA_FILE).exists():
        return None
    for format, (name, _, _) in FORMATS.items():
        if (folder / name).exists() and (path.is_dir() or path.suffix == Path(name).suffix):
            return folder / name, format
    return None


class ExportedModel:
    """An export run by its runtime: raw images in, `{output: np.ndarray}` out.

    Example (given an ONNX export of a segmenter):
        model = open_export("saved_models/synthetic_rgbd.onnx/1")
        out = model({"rgb": rgb_uint8, "depth": depth_uint16})
        out["ensemble_labels"].shape  # (batch, H, W)
    """

    def __init__(self, path, format, description):
        self.path, self.format, self.description = Path(path), format, description
        # What each input is and how the model preprocesses it (the model does; callers read files with it).
        self.preprocessors = {
            name: ModalityPreprocessor(**spec["preprocessor"]) for name, spec in description["inputs"].items()
        }
        # The runtime's own model object (ONNX session, LiteRT runner, OpenVINO compiled model), to inspect.
        self.compiled_model, self._run = RUNNERS[format](self.path, description)
        self._served_names = description.get("file_outputs", {})

    def check(self, images):
        """Raise DataError naming the input unless `images` are what the export takes."""
        expected = list(self.preprocessors)
        missing = [n for n in expected if n not in images]
        unexpected = [n for n in images if n not in expected]
        if missing or unexpected:
            raise DataError(f"the model takes inputs {expected}; missing {missing}, unexpected {unexpected}.")
        sizes = {}
        for name, preprocessor in self.preprocessors.items():
            value = np.asarray(images[name])
            dtype, channels = preprocessor.raw_dtype, preprocessor.raw_channels
            if value.dtype != np.dtype(dtype):
                raise DataError(f"input '{name}' must be {dtype}, got {value.dtype}.")
            if value.ndim != 4 or value.shape[-1] != channels:
                raise DataError(
                    f"input '{name}' must have shape (batch, height, width, {channels}), got {value.shape}."
                )
            if 0 in value.shape[:3]:
                raise DataError(f"input '{name}' holds no pixels: shape {value.shape}.")
            sizes[name] = value.shape[:3]
        if len(set(sizes.values())) > 1:
            raise DataError(f"inputs must share batch, height and width, got {sizes}.")

    def __call__(self, images):
        self.check(images)
        outputs = self._run({name: np.asarray(images[name]) for name in self.preprocessors})
        return {self._served_names.get(name, name): value for name, value in outputs.items()}


def _onnx_runner(path, description):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return session, lambda feed: dict(zip(names, session.run(names, feed)))


def _litert_runner(path, description):
    from ai_edge_litert.interpreter import Interpreter

    # The signature runner resizes the inputs to each request's size.
    # Every core, as TensorFlow and the other runtimes use (LiteRT's own default may be fewer).
    interpreter = Interpreter(model_path=str(path), num_threads=os.cpu_count())
    runner = interpreter.get_signature_runner("serving_default")
    return runner, lambda feed: dict(runner(**feed))


def _openvino_runner(path, description):
    import openvino

    # Stated, never OpenVINO's default: that is bf16 on CPUs with bf16 units and f32 elsewhere.
    # Exports of `--precision mixed_bfloat16` say bf16; the others (and earlier ones) f32.
    precision = description.get("inference_precision", "f32")
    compiled = openvino.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": precision})

    def run(feed):
        result = compiled(feed)
        return {output.get_any_name(): result[output] for output in compiled.outputs}

    return compiled, run


# format -> runner(model file, metadata) -> (the runtime's model object, run(feed) -> {file output: array}).
RUNNERS = {"onnx": _onnx_runner, "litert": _litert_runner, "openvino": _openvino_runner}


def _read_export(path):
    """`(folder, format, metadata)` of the export at `path`; DataError if it is none."""
    found = find_export(path)
    if found is None:
        raise DataError(f"{path} is not an ONNX, LiteRT or OpenVINO export (a folder with {METADATA_FILE}).")
    file, format = found
    require_format(format)
    return file.parent, format, json.loads((file.parent / METADATA_FILE).read_text())


def _served_files(folder, description):
    """`{frozenset of inputs: (inputs in order, model file)}`; exports of earlier versions hold the full set only."""
    signatures = description.get("signatures", {"serving_default": list(description["inputs"])})
    files = description.get("files", {"serving_default": description["file"]})
    return {frozenset(signatures[key]): (signatures[key], folder / files[key]) for key in files}


def _subset_description(description, names):
    """The metadata of the file taking `names`: those inputs only."""
    return {**description, "inputs": {name: description["inputs"][name] for name in names}}


def open_export(path, inputs=None):
    """The `ExportedModel` at `path` (an export folder or a model file in it) for the input set
    `inputs` (default: the file's, every input for a folder); DataError if it is no export or
    serves no such set."""
    folder, format, description = _read_export(path)
    served = _served_files(folder, description)
    if inputs is None and Path(path).is_file():
        inputs = next((names for names, file in served.values() if file.name == Path(path).name), None)
    wanted = frozenset(description["inputs"] if inputs is None else inputs)
    if wanted not in served:
        raise DataError(
            f"{folder} has no file for the inputs {sorted(wanted)}; it runs from: {[sorted(s) for s in served]}."
        )
    names, file = served[wanted]
    return ExportedModel(file, format, _subset_description(description, names))


class _OpenedOnFirstCall:
    """One input set's file, opened by its runtime when first called (most uses need one set)."""

    def __init__(self, path, inputs):
        self.path, self.inputs, self.model = path, inputs, None

    def __call__(self, images):
        if self.model is None:
            self.model = open_export(self.path, self.inputs)
        return self.model(images)


def export_input_sets(path):
    """`{frozenset of inputs: callable}` for every input set the export at `path` serves; each
    callable runs that set's file (opened on first call) on raw images."""
    folder, _, description = _read_export(path)
    return {inputs: _OpenedOnFirstCall(folder, inputs) for inputs in _served_files(folder, description)}
