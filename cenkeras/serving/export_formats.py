"""Exports for other runtimes: ONNX, LiteRT and OpenVINO files of the SavedModel's serving function.

Each file computes what `serving_default` computes (`cenkeras.serving.export`): one
raw image per modality in, named as in the recipe (uint8 colour, uint16
depth; any batch, height and width), the preprocessing inside, and the same
named outputs (labels and probabilities per output for segmentation,
uint8 images for translation). A network that runs without some of its
modalities gets one file per input set the SavedModel serves: `model.onnx`
for the full set, `model.rgb.onnx` (the `serving_rgb` signature's inputs),
`model.rgb_and_depth.onnx`, ... beside it. `serving_png` stays with the
SavedModel.

Every export writes a folder with the model files and `cenkeras.json`, the
SavedModel's metadata plus the format, the file of each input set
(`files`, keyed like `signatures`) and what input sizes it takes;
`cenkeras predict` and `translate` read such a folder (or the file in it)
with the format's own runtime (`cenkeras.serving.runtimes`).

The converters are optional extras, imported only here: `onnx` (tf2onnx +
onnxruntime), `litert` (ai-edge-litert), `openvino`.
"""

import importlib.util
import json
import tempfile
from pathlib import Path

import tensorflow as tf

from cenkeras.config import ConfigError

# format: (model file in the folder, the extra that installs it, the modules it needs).
FORMATS = {
    "onnx": ("model.onnx", "onnx", ("tf2onnx", "onnxruntime")),
    "litert": ("model.tflite", "litert", ("ai_edge_litert",)),
    "openvino": ("model.xml", "openvino", ("openvino",)),
}
METADATA_FILE = "cenkeras.json"
# ONNX opset of the export: supported by onnxruntime >= 1.14 and OpenVINO's ONNX frontend.
ONNX_OPSET = 17
OUTPUT_SUFFIX = "_output"


class MissingExtra(ConfigError):
    """An optional dependency of a format is not installed; the message names the extra."""


def require_format(format):
    """Raise `MissingExtra` (naming the pip extra) unless `format`'s converter and runtime are installed."""
    if format not in FORMATS:
        raise ConfigError(f"unknown export format {format!r}; expected saved_model or one of {sorted(FORMATS)}.")
    _, extra, modules = FORMATS[format]
    missing = [module for module in modules if importlib.util.find_spec(module) is None]
    if missing:
        raise MissingExtra(f"the {format} format needs {', '.join(missing)}: pip install 'cenkeras[{extra}]'.")


def file_output_names(serving):
    """`{name in the file: served name}` for the outputs renamed in the file.

    A generator's outputs are named after its input domains ("shade" in, "shade"
    out); ONNX needs every tensor name once, so in the files such an output is
    "<name>_output", and `cenkeras.serving.runtimes` gives it back its served name.
    """
    outputs = json.loads(serving.description_json)["outputs"]
    return {f"{name}{OUTPUT_SUFFIX}": name for name in outputs if name in serving.specs}


def served_files(serving, format):
    """`{signature key: (input names, file name)}`: the full set's `serving_default` in the
    format's model file, each subset signature in `model.<inputs>.<extension>`."""
    name = FORMATS[format][0]
    stem, extension = name.rsplit(".", 1)
    files = {"serving_default": (list(serving.specs), name)}
    for key, function in serving.subset_serves.items():
        files[key] = (list(function.input_signature[0]), f"{stem}.{key.removeprefix('serving_')}.{extension}")
    return files


def _flat_function(serving, function):
    """`function` (one of `serving`'s serving functions) as a function of one argument per input
    (what the converters take)."""
    names = list(function.input_signature[0])
    specs = [serving.specs[name] for name in names]
    in_file = {served: renamed for renamed, served in file_output_names(serving).items()}

    def serve(*images):
        outputs = function(dict(zip(names, images)))
        return {in_file.get(name, name): value for name, value in outputs.items()}

    return tf.function(serve, input_signature=specs), specs


def _frozen_function(serving, function):
    """The serving function with its weights as constants. LiteRT's converter otherwise keeps
    Keras 3 variables as resource variables that its interpreter reads uninitialised (NaN)."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    flat, specs = _flat_function(serving, function)
    concrete = flat.get_concrete_function()
    frozen = convert_variables_to_constants_v2(concrete)
    keys = sorted(concrete.structured_outputs)  # the frozen function returns them flat, in key order
    return tf.function(lambda *images: dict(zip(keys, frozen(*images))), input_signature=specs)


def _export_onnx(serving, function, path):
    import tf2onnx

    flat, specs = _flat_function(serving, function)
    tf2onnx.convert.from_function(flat, input_signature=specs, opset=ONNX_OPSET, output_path=str(path))


def _export_litert(serving, function, path):
    frozen = _frozen_function(serving, function)
    with tempfile.TemporaryDirectory() as folder:
        holder = tf.Module()
        holder.serve = frozen
        tf.saved_model.save(holder, folder, signatures={"serving_default": frozen.get_concrete_function()})
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        # Built-in ops only: a model that would need TensorFlow's own kernels (the Flex delegate,
        # absent from ai-edge-litert) fails here, not in the user's interpreter.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        Path(path).write_bytes(converter.convert())


def _export_openvino(serving, function, path):
    import openvino

    flat, _ = _flat_function(serving, function)
    # Float32 weights: OpenVINO would store float16 by default, outside the parity tolerance.
    openvino.save_model(openvino.convert_model(flat), str(path), compress_to_fp16=False)


EXPORTERS = {"onnx": _export_onnx, "litert": _export_litert, "openvino": _export_openvino}


def export_format(serving, format, folder, precision="float32"):
    """Write `serving`'s functions as `format` into `folder`, one file per input set it serves (the
    full set's first), with their metadata; returns the full set's model file.

    `precision` "mixed_bfloat16" (OpenVINO only) is recorded as the metadata's `inference_precision`,
    which `cenkeras.serving.runtimes` passes to OpenVINO when it compiles the model; the file is float32 either way.
    """
    require_format(format)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = served_files(serving, format)
    functions = {"serving_default": serving.serve, **serving.subset_serves}
    for key, (_, name) in files.items():
        EXPORTERS[format](serving, functions[key], folder / name)
    description = json.loads(serving.description_json)
    description.pop("serving_png", None)
    description["signatures"] = {key: names for key, (names, _) in files.items()}
    description["files"] = {key: name for key, (_, name) in files.items()}
    description["format"] = format
    path = folder / files["serving_default"][1]
    description["file"] = path.name
    description["file_outputs"] = file_output_names(serving)
    description["input_size"] = "any batch, height and width"
    description["inference_precision"] = "bf16" if precision == "mixed_bfloat16" else "f32"
    (folder / METADATA_FILE).write_text(json.dumps(description, indent=2) + "\n")
    return path
