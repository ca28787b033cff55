"""The official FID preprocessing (min-max stretch, matplotlib figure saved as PNG) against hand computations."""

import numpy as np
import pytest

from cenkeras.metrics.fid_images import fid_images, official_fid_images, stretch_to_uint8


def test_stretch_maps_each_images_own_range_to_0_255_and_truncates():
    # Values exact in binary, so that truncation is decided by arithmetic, not rounding noise.
    image = np.array([[[-0.5, 0.0, 0.5], [0.25, -0.5, 0.125]]], np.float32)  # min -0.5, max 0.5
    # (x + 0.5) * 255 / 1, truncated: 0, 127.5 -> 127, 255, 191.25 -> 191, 0, 159.375 -> 159
    assert stretch_to_uint8(image).tolist() == [[[0, 127, 255], [191, 0, 159]]]
    # The stretch is per image: a dim image comes out as contrasted as a bright one.
    np.testing.assert_array_equal(stretch_to_uint8(image * 0.25 - 0.5), stretch_to_uint8(image))
    assert not stretch_to_uint8(np.full((4, 4, 3), 0.3)).any()  # constant: zeros, not NaN


def test_official_images_are_the_500px_figure_the_official_code_saves():
    # Two flat halves and two marker pixels that set the range: -1 -> 0 and 1 -> 255.
    image = np.full((256, 256, 3), -0.5, np.float32)
    image[:, 128:] = 0.5
    image[0, 0] = [-1.0, 1.0, -0.5]
    (out,) = official_fid_images(image[None])
    assert out.shape == (500, 500, 3) and out.dtype == np.float32
    # Away from the edge between them, each half keeps its stretched value: (x + 1) * 127.5 truncated.
    np.testing.assert_array_equal(np.round(out[250, 100] * 255), [63, 63, 63])
    np.testing.assert_array_equal(np.round(out[250, 400] * 255), [191, 191, 191])
    # The image fills the whole figure (no white margin): its corners are its own pixels.
    np.testing.assert_array_equal(np.round(out[0, 0] * 255), [0, 255, 63])
    np.testing.assert_array_equal(np.round(out[499, 499] * 255), [191, 191, 191])
    np.testing.assert_array_equal(np.round(out[499, 0] * 255), [63, 63, 63])


def test_direct_images_only_map_minus_one_one_to_zero_one():
    image = np.array([[[[-1.0, 0.0, 1.0]]]], np.float32)
    np.testing.assert_array_equal(fid_images(image, "direct"), [[[[0.0, 0.5, 1.0]]]])
    with pytest.raises(ValueError, match="unknown FID preprocessing 'stretch'"):
        fid_images(image, "stretch")


class ShapeRecorder:
    """A stand-in feature network: records what it is given, returns each image's mean colour."""

    description = "recorder"

    def __init__(self):
        self.batches = []

    def __call__(self, images):
        self.batches.append(images.shape)
        return images.mean(axis=(1, 2)).astype(np.float64)


@pytest.mark.parametrize("preprocessing, size", [("official", 500), ("direct", 32)])
def test_scorer_feeds_the_network_preprocessed_chunks(preprocessing, size):
    from cenkeras.metrics.fid import FidScorer

    images = np.random.default_rng(0).uniform(-0.5, 0.2, (5, 32, 32, 3)).astype(np.float32)
    network = ShapeRecorder()
    scorer = FidScorer(network, preprocessing, kid_subsets=2, kid_subset_size=3, chunk=2)
    features = scorer.features(images)
    assert network.batches == [(2, size, size, 3), (2, size, size, 3), (1, size, size, 3)]
    assert scorer.description == f"recorder, {preprocessing} preprocessing"
    # The official stretch spreads every image over [0, 1]; the direct mapping keeps it where it was.
    expected_mean = fid_images(images, preprocessing).mean(axis=(1, 2))
    np.testing.assert_allclose(features, expected_mean, rtol=1e-6)
    scores = scorer.scores(features, features[::-1])
    assert set(scores) == {"fid", "kid_x100"}


def test_kid_is_reported_times_100_as_in_the_paper():
    from cenkeras.metrics.fid import FidScorer, kernel_inception_distance

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(40, 8)), rng.normal(0.5, 1.0, size=(40, 8))
    scores = FidScorer(ShapeRecorder(), kid_subsets=3, kid_subset_size=20).scores(a, b)
    raw = kernel_inception_distance(a, b, subsets=3, subset_size=20)
    assert raw > 0 and scores["kid_x100"] == pytest.approx(100 * raw, rel=1e-12)
