"""The scripts under examples/ run as a user runs them (a subprocess, at tiny size) and do what
their docstrings say."""

import base64
import http.server
import json
import subprocess
import sys
import threading

import numpy as np
import pytest
from PIL import Image

from harness import REPO_ROOT, TRACEBACK

pytestmark = pytest.mark.slow  # each trains or serves a network

EXAMPLES = REPO_ROOT / "examples"


def run_example(name, *args, timeout=300):
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *map(str, args)], capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0 and TRACEBACK not in done.stderr, done.stderr[-3000:]
    return done.stdout


def test_the_exchange_layer_in_a_model_of_your_own_exchanges_channels():
    output = run_example("exchange_in_your_model.py", "--steps", 300)
    assert "accuracy 1.000" in output or float(output.split("accuracy ")[1].split()[0]) > 0.9
    exchanged = [line for line in output.splitlines() if line.startswith("exchange")]
    assert len(exchanged) == 3
    # The L1 term drives scales under the threshold: every layer exchanges channels in both streams.
    for line in exchanged:
        counts = json.loads(line.split(": ")[-1])
        assert len(counts) == 2 and min(counts) > 0, line


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory):
    """The fine-tuning example on its own demo folder, from an ImageNet-style backbone file."""
    sys.path.insert(0, str(EXAMPLES))
    sys.path.insert(0, str(REPO_ROOT / "tests" / "tasks"))
    from finetune_rgbx_folder import rgbx_recipe
    from tiny_recipe import write_backbone

    root = tmp_path_factory.mktemp("finetune")
    backbone, state = write_backbone(rgbx_recipe(6, tiny=True), root / "backbone.npz")
    run_dir = root / "run"
    output = run_example(
        "finetune_rgbx_folder.py",
        *("--make-demo-folder", root / "rgbt", "--run-dir", run_dir, "--epochs", 2, "--tiny"),
        *("--backbone", backbone),
    )
    return root, run_dir, output, state


def test_fine_tuning_on_an_rgbx_folder_starts_from_the_backbone_and_reports_named_classes(finetuned):
    from cenkeras.tasks.run_models import load_run_model

    root, run_dir, output, state = finetuned
    assert (root / "rgbt" / "train.txt").read_text().startswith("rgb/000001.png masks/000001.png thermal/")
    assert "| thermal |" in output and "| ensemble |" in output
    assert "| ball |" in output  # the folder's class_names.txt names the classes
    from cenkeras.interop import export_torch_state_dict

    recipe, model = load_run_model(run_dir)
    assert list(recipe.data.modalities) == ["rgb", "thermal"] and recipe.train.freeze_bn
    # Frozen BatchNorm statistics: each stream's private norms still hold the backbone's.
    trained = export_torch_state_dict(model)
    for key in ("bn1", "layer2.0.bn2", "layer4.0.downsample.1"):
        for stream in (0, 1):
            for statistic in ("running_mean", "running_var"):
                np.testing.assert_allclose(
                    trained[f"{key}.bn_{stream}.{statistic}"], state[f"{key}.{statistic}"], rtol=1e-6
                )


class FakeTFServing(http.server.BaseHTTPRequestHandler):
    """What TF Serving's REST predict does with the row format: each instance's b64 strings decoded
    to bytes, the named signature called, each output's first row sent back as `predictions`."""

    signatures = None

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        signature = self.signatures[body["signature_name"]]
        import tensorflow as tf

        predictions = []
        for instance in body["instances"]:
            inputs = {name: tf.constant([base64.b64decode(value["b64"])]) for name, value in instance.items()}
            outputs = signature(**inputs)
            predictions.append({key: value.numpy()[0].tolist() for key, value in outputs.items()})
        data = json.dumps({"predictions": predictions}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_the_rest_client_segments_base64_pngs_as_the_savedmodel_does(finetuned, tmp_path):
    import tensorflow as tf

    from cenkeras.serving.predict import Predictor
    from cenkeras.tasks.run_models import export_run

    root, run_dir, _, _ = finetuned
    saved = export_run(run_dir, out=tmp_path / "model" / "1")
    FakeTFServing.signatures = tf.saved_model.load(str(saved)).signatures
    server = http.server.HTTPServer(("127.0.0.1", 0), FakeTFServing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/v1/models/rgbt:predict"
        rgb, thermal = root / "rgbt" / "rgb" / "000020.png", root / "rgbt" / "thermal" / "000020.png"
        output = run_example(
            "serving_rest_client.py",
            *("--url", url, "--input", f"rgb={rgb}", "--input", f"thermal={thermal}", "--out", tmp_path / "l.png"),
        )
    finally:
        server.shutdown()
    labels = np.asarray(Image.open(tmp_path / "l.png"))
    assert labels.shape == (64, 96) and "l.png: 96x64" in output
    predictor = Predictor(saved)
    expected = predictor({"rgb": predictor.read("rgb", rgb), "thermal": predictor.read("thermal", thermal)})
    np.testing.assert_array_equal(labels, expected["ensemble_labels"][0])
