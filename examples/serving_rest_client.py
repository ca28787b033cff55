"""Segment PNG files with a model served by TF Serving, over its REST API, with base64 PNGs.

The client needs no TensorFlow: the PNG files travel as they are, base64
encoded in TF Serving's `{"b64": ...}` form, to the `serving_png` signature of
a `cenkeras export` SavedModel, which decodes and preprocesses them inside
the graph. Serve the export first, e.g.:

    docker run -p 8501:8501 -v "$PWD/saved_models/synthetic_rgbd:/models/synthetic_rgbd" \\
        -e MODEL_NAME=synthetic_rgbd tensorflow/serving

then:

    python examples/serving_rest_client.py --url http://localhost:8501/v1/models/synthetic_rgbd:predict \\
        --input rgb=frame.png --input depth=frame_depth.png --out labels.png
"""

import argparse
import base64
import json
import urllib.request

import numpy as np
from PIL import Image


def png_instance(files):
    """`{input name: PNG path}` -> one instance of the request: each file base64-encoded."""
    return {name: {"b64": base64.b64encode(open(path, "rb").read()).decode("ascii")} for name, path in files.items()}


def predict(url, files, output="ensemble", timeout=60):
    """The `<output>_labels` (H, W) int array TF Serving returns for one set of PNG files."""
    body = json.dumps({"signature_name": "serving_png", "instances": [png_instance(files)]}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as error:  # TF Serving explains a refused request in its body
        raise SystemExit(f"{url}: {error.code} {error.read().decode(errors='replace')}") from None
    return np.asarray(answer["predictions"][0][f"{output}_labels"], dtype=np.int32)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="http://HOST:8501/v1/models/NAME:predict")
    parser.add_argument("--input", action="append", required=True, metavar="NAME=PNG", help="one per modality")
    parser.add_argument("--output", default="ensemble", help="which output's labels (a modality or ensemble)")
    parser.add_argument("--out", default="labels.png", help="where the label PNG goes")
    args = parser.parse_args(argv)
    files = dict(item.split("=", 1) for item in args.input)
    labels = predict(args.url, files, args.output)
    Image.fromarray(labels.astype(np.uint8)).save(args.out)
    classes, counts = np.unique(labels, return_counts=True)
    print(f"{args.out}: {labels.shape[1]}x{labels.shape[0]}, classes {dict(zip(classes.tolist(), counts.tolist()))}")
    return labels


if __name__ == "__main__":
    main()
