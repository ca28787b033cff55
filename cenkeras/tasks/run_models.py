"""A run directory of any task as a model: loaded, exported, or predicting from image files.

The run's recipe names its task, and the task builds the network: this is where a run
meets the serving package, which works on models and never asks which task made them.
"""

from pathlib import Path

import tensorflow as tf

from cenkeras.data.class_names import recipe_class_names
from cenkeras.serving.export import DEFAULT_ROOT, next_version, serving_policy
from cenkeras.serving import predict as served_predict
from cenkeras.training.precision import resolve_precision
from cenkeras.training.runs import RunDirectory


def is_run_directory(path):
    return (Path(path) / "recipe.json").exists()


def load_run_model(run_dir, weights=None):
    """(recipe, model with the run's best else last weights) of a run of any task."""
    from cenkeras.tasks import task_for

    run = RunDirectory(run_dir)
    return task_for(run.load_recipe()).load_network(run, weights)


def predict(model_path, inputs, out_dir, output="ensemble", verbose=1):
    """`cenkeras predict`: `cenkeras.serving.predict.predict` on a run directory's model, or on
    any model file or export it reads itself."""
    if not is_run_directory(model_path):
        return served_predict.predict(model_path, inputs, out_dir, output=output, verbose=verbose)
    recipe, model = load_run_model(model_path)
    names = recipe_class_names(recipe)
    return served_predict.predict(model, inputs, out_dir, output=output, verbose=verbose, class_names=names)


def export_run(run_dir, out=None, weights=None, precision="float32", format="saved_model"):
    """Write the run's model as `saved_models/<name>/<version>/` (+ `model.keras`); returns the path.

    `precision` is what the served model computes in ("float32",
    "mixed_bfloat16", or "auto" for this machine); inputs and outputs keep
    their dtypes whatever it is. A bfloat16 export also stores its weights
    in bfloat16: half the file and memory, and the convolutions see the
    same bf16 kernels they would see under mixed precision (norm scales and
    shifts are still folded in float32).

    `format` "onnx", "litert" or "openvino" writes that runtime's file of the
    same serving function instead, with float32 weights, under
    `saved_models/<name>.<format>/<version>/` (`cenkeras.serving.export_formats`).
    OpenVINO alone takes a bf16 `precision`: the file stays float32 and its
    metadata tells the runtime to compute in bf16 (the fastest CPU inference
    measured, `bench/bench_runtimes.py`); ONNX Runtime and LiteRT compute in
    float32.
    """
    file_precision = None
    if format != "saved_model":
        from cenkeras.config import ConfigError
        from cenkeras.serving.export_formats import require_format

        require_format(format)  # before anything is built
        file_precision = resolve_precision(precision)
        if file_precision != "float32" and format != "openvino":
            raise ConfigError(
                f"--precision {precision} applies to the SavedModel and OpenVINO; the {format} export "
                "computes in float32."
            )
        precision = "float32"  # the file's weights; OpenVINO's bf16 is chosen when it compiles the model
    with serving_policy(precision):
        recipe, model = load_run_model(run_dir, weights)
    if out is None:
        model_dir = Path(DEFAULT_ROOT) / (recipe.name if format == "saved_model" else f"{recipe.name}.{format}")
        out = model_dir / str(next_version(model_dir))
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} already exists and is not empty; choose another --out or version.")
    from cenkeras.tasks import task_for

    serving = task_for(recipe).serving_module(model, recipe)
    if format != "saved_model":
        from cenkeras.serving.export_formats import export_format

        export_format(serving, format, out, precision=file_precision)
        return out
    tf.saved_model.save(serving, str(out), signatures=serving.signatures())
    model.save(out / "model.keras")
    (out / "assets.extra").mkdir(exist_ok=True)
    (out / "assets.extra" / "cenkeras.json").write_text(serving.description_json + "\n")
    return out
