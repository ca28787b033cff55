"""Serving a trained model: SavedModels for TF Serving, ONNX / LiteRT / OpenVINO files, the
runtimes that run them, `cenkeras predict`, and what the serving graphs are made of (raw-image
and PNG inputs, norms frozen to constants).

May import: models, layers, training (run directories, precision), config, data, utils.
Never tasks, experiments or the CLI: what a task serves reaches this package as a model and
its recipe (`export_run` asks the task registry through `cenkeras.tasks` at call time only
in `cenkeras.serving.export`; see there).
"""
