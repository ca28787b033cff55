"""Turning an official checkpoint into a cenkeras run directory (for eval, export, predict)."""

from cenkeras.interop.checkpoint_files import read_state_dict
from cenkeras.interop.torch_state_dict import load_torch_state_dict
from cenkeras.training.runs import RunDirectory


def import_checkpoint(checkpoint, recipe, out_dir):
    """Load an official checkpoint (.pth via torch, or .npz) into the recipe's model, strictly.

    Writes `out_dir` as a run directory: recipe.json, checkpoints/best.weights.h5
    (what `cenkeras eval` / `export` / `predict` read) and model.keras.
    Returns `(model, LoadReport)`.
    """
    from cenkeras.tasks import task_for

    model = task_for(recipe).build_network(recipe)
    report = load_torch_state_dict(model, read_state_dict(checkpoint), strict=True)
    run = RunDirectory(out_dir)
    run.create(recipe)
    model.save_weights(str(run.best_weights))
    model.save(run.path / "model.keras")
    return model, report
