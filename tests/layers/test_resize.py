"""Bicubic resizing of logits as the official evaluation's `cv2.resize(..., INTER_CUBIC)`."""

import numpy as np
import pytest

from cenkeras.layers.resize import resize_bicubic
from cenkeras.tasks.segmentation import upsample_logits


@pytest.mark.parametrize("size", [(52, 68), (40, 31), (13, 17), (5, 6)])
def test_bicubic_resize_matches_pytorch_bicubic_which_is_opencvs_inter_cubic(size):
    """PyTorch's bicubic (a = -0.75, edge pixels replicated) is OpenCV's INTER_CUBIC in float;
    TensorFlow's own bicubic (a = -0.5) is not, which the last check shows."""
    torch = pytest.importorskip("torch")
    import tensorflow as tf

    x = np.random.default_rng(0).normal(size=(2, 13, 17, 5)).astype("float32")
    reference = torch.nn.functional.interpolate(
        torch.from_numpy(x).permute(0, 3, 1, 2), size=size, mode="bicubic", align_corners=False
    )
    expected = reference.permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(resize_bicubic(x, size).numpy(), expected, atol=1e-5)
    if size != x.shape[1:3]:
        assert np.abs(tf.image.resize(x, size, method="bicubic").numpy() - expected).max() > 1e-3


def test_logits_upsample_bicubically_or_bilinearly_as_asked():
    import tensorflow as tf

    logits = np.random.default_rng(1).normal(size=(1, 8, 12, 4)).astype("float32")
    np.testing.assert_allclose(upsample_logits(logits, (32, 48), "bicubic"), resize_bicubic(logits, (32, 48)))
    bilinear = tf.image.resize(logits, (32, 48), method="bilinear").numpy()
    np.testing.assert_allclose(upsample_logits(logits, (32, 48)), bilinear)
    assert not np.allclose(upsample_logits(logits, (32, 48), "bicubic"), bilinear, atol=1e-3)


def test_bicubic_resize_takes_sizes_known_only_in_the_graph():
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec((1, None, None, 2)), tf.TensorSpec((2,), tf.int32)])
    def resize(x, size):
        return resize_bicubic(x, size)

    x = np.random.default_rng(2).normal(size=(1, 6, 9, 2)).astype("float32")
    np.testing.assert_allclose(resize(x, tf.constant([11, 7])), resize_bicubic(x, (11, 7)), atol=1e-6)
