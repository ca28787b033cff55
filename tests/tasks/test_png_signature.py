"""The `serving_png` signature: PNG files sent as TF Serving's REST API sends them, decoded in the graph."""

import base64
import io
import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from cenkeras.tasks.run_models import export_run
from cenkeras.serving.png_inputs import png_request
from cenkeras.tasks import get_task
from tiny_recipe import tiny_recipe, tiny_translation_recipe

# A trained tiny run exported and served.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("png")
    get_task("segmentation").train(tiny_recipe(epochs=(1,)), root / "run", data_dir=str(root / "tfds"), verbose=0)
    return tf.saved_model.load(str(export_run(root / "run", out=root / "saved" / "1")))


def png_bytes(array, mode=None):
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, format="PNG")
    return buffer.getvalue()


def frames(count=2, height=29, width=41, seed=0):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (count, height, width, 3), dtype=np.uint8)
    depth = rng.integers(0, 40000, (count, height, width, 1), dtype=np.uint16)
    return rgb, depth


def depth_png(depth):
    return png_bytes(depth[..., 0].astype(np.uint16))


def as_tf_serving_receives(body):
    """The tensors TF Serving feeds a signature for a REST predict body in the row ("instances")
    format: each input's values stacked over the instances, `{"b64": ...}` decoded to bytes, carried
    as a PredictRequest (the gRPC request the REST handler builds)."""
    from tensorflow_serving.apis import predict_pb2

    body = json.loads(body)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "cen"
    request.model_spec.signature_name = body["signature_name"]
    for name in body["instances"][0]:
        values = [base64.b64decode(instance[name]["b64"]) for instance in body["instances"]]
        request.inputs[name].CopyFrom(tf.make_tensor_proto(values, dtype=tf.string))
    request = predict_pb2.PredictRequest.FromString(request.SerializeToString())  # over the wire
    signature = request.model_spec.signature_name
    return signature, {name: tf.constant(tf.make_ndarray(proto)) for name, proto in request.inputs.items()}


def test_a_rest_request_of_pngs_gets_what_serving_default_gives_for_the_pixels(exported):
    rgb, depth = frames()
    body = json.dumps(png_request(rgb=[png_bytes(x) for x in rgb], depth=[depth_png(d) for d in depth]))
    # Far smaller than the same frames as nested JSON numbers.
    assert len(body) < 0.5 * len(json.dumps({"rgb": rgb.tolist(), "depth": depth.tolist()}))
    signature, tensors = as_tf_serving_receives(body)
    assert signature == "serving_png" and tensors["rgb"].dtype == tf.string and tensors["rgb"].shape == (2,)
    served = exported.signatures[signature](**tensors)
    reference = exported.signatures["serving_default"](rgb=tf.constant(rgb), depth=tf.constant(depth))
    assert set(served) == set(reference)
    for key in reference:
        np.testing.assert_array_equal(served[key].numpy(), reference[key].numpy())
    metadata = json.loads(exported.signatures["metadata"]()["cenkeras"].numpy())
    assert metadata["serving_png"]["depth"].startswith("base64 PNG string per image: 16-bit grayscale")
    assert "serving_png" not in metadata["signatures"]  # that list is of the raw-pixel signatures


def test_a_gray_png_is_replicated_for_a_colour_input_as_the_file_readers_do(exported):
    rgb, depth = frames(count=1, seed=1)
    gray = rgb[0, ..., 0]
    served = exported.signatures["serving_png"](
        rgb=tf.constant([png_bytes(gray)]), depth=tf.constant([depth_png(depth[0])])
    )
    replicated = np.repeat(gray[None, ..., None], 3, axis=-1)
    reference = exported.signatures["serving_default"](rgb=tf.constant(replicated), depth=tf.constant(depth))
    np.testing.assert_array_equal(served["ensemble_labels"], reference["ensemble_labels"])


def test_bad_pngs_are_refused_naming_the_input(exported):
    serve = exported.signatures["serving_png"]
    rgb, depth = frames(count=2, seed=2)
    good_rgb = [png_bytes(x) for x in rgb]
    good_depth = [depth_png(d) for d in depth]
    jpeg = io.BytesIO()
    Image.fromarray(rgb[0]).save(jpeg, format="JPEG")
    small = frames(count=1, height=17, width=41)[0][0]
    bad = {
        "input rgb must be PNG files": {"rgb": [jpeg.getvalue(), good_rgb[1]]},
        "input depth must be PNG files": {"depth": [b"", good_depth[1]]},
        "input depth must be 16-bit PNGs": {"depth": [png_bytes(rgb[0, ..., 0]), good_depth[1]]},
        "input rgb must be 8-bit PNGs": {"rgb": [depth_png(depth[0]), good_rgb[1]]},
        r"input rgb must be grayscale or RGB or palette PNGs.*got colour type.*\b6\b": {
            "rgb": [png_bytes(np.dstack([rgb[0], rgb[0, ..., :1]]), "RGBA"), good_rgb[1]]
        },
        "input rgb: the images of one request must have the same size": {"rgb": [png_bytes(small), good_rgb[1]]},
        "input depth must have the batch size, height and width of input rgb": {
            "rgb": [png_bytes(small)],
            "depth": [good_depth[0]],
        },
        "input rgb holds no images": {"rgb": tf.constant([], tf.string), "depth": tf.constant([], tf.string)},
    }
    for message, replaced in bad.items():
        request = {"rgb": good_rgb, "depth": good_depth, **replaced}
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            serve(**{name: tf.constant(value, tf.string) for name, value in request.items()})


def test_a_header_claiming_a_huge_image_is_refused_before_decoding(exported):
    rgb, depth = frames(count=1, seed=3)
    data = bytearray(png_bytes(rgb[0]))
    data[16:24] = (200_000).to_bytes(4, "big") * 2  # width and height in the IHDR chunk
    with pytest.raises(tf.errors.InvalidArgumentError, match="input rgb claims more than 89478485 pixels"):
        exported.signatures["serving_png"](rgb=tf.constant([bytes(data)]), depth=tf.constant([depth_png(depth[0])]))


def test_translation_export_serves_pngs(tmp_path):
    root = tmp_path
    get_task("translation").train(tiny_translation_recipe(), root / "run", data_dir=str(root / "tfds"), verbose=0)
    loaded = tf.saved_model.load(str(export_run(root / "run", out=root / "saved" / "1")))
    rng = np.random.default_rng(4)
    shade, texture = (rng.integers(0, 256, (1, 40, 48, 3), dtype=np.uint8) for _ in range(2))
    served = loaded.signatures["serving_png"](
        shade=tf.constant([png_bytes(shade[0])]), texture=tf.constant([png_bytes(texture[0])])
    )
    reference = loaded.signatures["serving_default"](shade=tf.constant(shade), texture=tf.constant(texture))
    assert served["ensemble"].shape == (1, 40, 48, 3)
    np.testing.assert_array_equal(served["ensemble"], reference["ensemble"])
