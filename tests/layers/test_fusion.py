"""Fusion baselines (concat, average, self-attention, alignment) and the exchange-rule ablations."""

import keras
import numpy as np
import pytest

from cenkeras.layers import (
    AverageFusion,
    ChannelExchange,
    ConcatFusion,
    FeatureAlignment,
    SelfAttentionFusion,
    maximum_mean_discrepancy,
)
from cenkeras.layers.fusion import fusion_points


def streams(count=2, shape=(2, 8, 8, 6), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape).astype("float32") for _ in range(count)]


def test_mmd_is_zero_for_identical_features_and_positive_otherwise():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 5)).astype("float32")
    assert float(maximum_mean_discrepancy(x, x)) == pytest.approx(0.0, abs=1e-6)
    shifted = x + 1.0
    other = rng.normal(size=(64, 5)).astype("float32")
    assert float(maximum_mean_discrepancy(x, shifted)) > 0.1
    # Two samples of one distribution are closer than samples of two distributions.
    assert 0 < float(maximum_mean_discrepancy(x, other)) < float(maximum_mean_discrepancy(x, shifted))
    assert float(maximum_mean_discrepancy(x, shifted)) == pytest.approx(
        float(maximum_mean_discrepancy(shifted, x)), rel=1e-5
    )


def test_alignment_passes_streams_unchanged_and_adds_weighted_mmd():
    a, b = streams()
    align = FeatureAlignment(weight=0.5)
    outputs = align([a, a], training=True)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(outputs[0]), a)
    assert float(align.losses[0]) == pytest.approx(0.0, abs=1e-6)
    align([a, b + 2.0], training=True)
    expected = 0.5 * float(align.discrepancy([a, b + 2.0]))
    assert expected > 0 and float(align.losses[0]) == pytest.approx(expected, rel=1e-5)
    assert align.count_params() == 0
    align([a, b + 2.0], training=False)
    assert align.losses == []  # inference adds no loss


@pytest.mark.parametrize("count", [2, 3])
def test_aggregation_shapes_and_fusion_parameter_counts(count):
    channels = 6
    xs = streams(count, (2, 8, 8, channels))
    concat = ConcatFusion()
    assert concat(xs).shape == (2, 8, 8, channels)
    assert concat.count_params() == count * channels * channels + channels
    attention = SelfAttentionFusion(reduction=4)
    assert attention(xs).shape == (2, 8, 8, channels)
    total, hidden = count * channels, count * channels // 4
    assert attention.count_params() == (9 * total * hidden + hidden) + (9 * hidden * total + total) + (
        total * channels + channels
    )
    average = AverageFusion()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(average(xs)), np.mean(xs, axis=0), rtol=1e-6)
    assert average.count_params() == 0


def test_fusion_layers_need_several_streams():
    with pytest.raises(ValueError, match="at least 2 streams"):
        ConcatFusion(name="solo")([streams(1)[0]])


def test_fusion_points_of_each_stage():
    points = ["stem", "layer1", "layer2", "layer3", "layer4"]
    assert fusion_points("early", points) == ["stem"]
    assert fusion_points("middle", points) == ["layer2"]
    assert fusion_points("late", points) == ["layer4"]
    assert fusion_points("all", points) == points
    with pytest.raises(ValueError, match="Unknown fusion stage 'first'"):
        fusion_points("first", points)


def test_the_generators_middle_is_its_4th_encoder_block_as_in_the_paper():
    """Paper, Sec. 4.2: early, middle and late fusion at the 1st, 4th and 8th conv layers."""
    blocks = range(1, 9)
    assert [fusion_points(stage, blocks) for stage in ("early", "middle", "late")] == [[1], [4], [8]]


def exchange_with_gammas(rule, gammas, **options):
    layer = ChannelExchange(2, threshold=0.1, rule=rule, name=f"x_{rule}", **options)
    layer.build([(None, 4, 4, 10)] * 2)
    for norm, gamma in zip(layer.norms, gammas):
        norm.gamma.assign(np.asarray(gamma, "float32"))
    return layer


def test_fixed_rule_exchanges_the_first_portion_of_each_part_whatever_gamma():
    layer = exchange_with_gammas("fixed", [np.ones(10), np.ones(10)], portion=0.4)
    masks = [keras.ops.convert_to_numpy(m) for m in layer.exchange_masks()]
    np.testing.assert_array_equal(np.flatnonzero(masks[0]), [0, 1])  # part 0 is channels 0-4
    np.testing.assert_array_equal(np.flatnonzero(masks[1]), [5, 6])
    a, b = streams(2, (1, 4, 4, 10))
    out_a, out_b = (keras.ops.convert_to_numpy(y) for y in layer([a, b], training=False))
    norm_a, norm_b = (keras.ops.convert_to_numpy(y) for y in layer.normalize([a, b], training=False))
    np.testing.assert_allclose(out_a[..., :2], norm_b[..., :2], rtol=1e-6)
    np.testing.assert_allclose(out_a[..., 2:], norm_a[..., 2:], rtol=1e-6)
    assert [s["exchanged"] for s in layer.exchange_statistics()] == [2, 2]


def test_random_rule_draws_a_fixed_subset_of_each_part_from_the_seed():
    first = exchange_with_gammas("random", [np.ones(10)] * 2, portion=0.6, seed=3)
    again = exchange_with_gammas("random", [np.ones(10)] * 2, portion=0.6, seed=3)
    other = exchange_with_gammas("random", [np.ones(10)] * 2, portion=0.6, seed=4)
    masks = [keras.ops.convert_to_numpy(m) for m in first.exchange_masks()]
    assert masks[0].sum() == 3 and masks[0][5:].sum() == 0 and masks[1][:5].sum() == 0
    for m, n in zip(masks, again.exchange_masks()):
        np.testing.assert_array_equal(m, keras.ops.convert_to_numpy(n))
    others = [keras.ops.convert_to_numpy(n) for n in other.exchange_masks()]
    assert any(not np.array_equal(m, n) for m, n in zip(masks, others))
    assert ChannelExchange.from_config(first.get_config()).seed == 3


def test_discard_rule_zeroes_the_channels_under_the_threshold():
    gammas = [np.r_[np.zeros(3), np.ones(7)], np.ones(10)]
    layer = exchange_with_gammas("discard", gammas)
    a, b = streams(2, (1, 4, 4, 10))
    out_a, out_b = (keras.ops.convert_to_numpy(y) for y in layer([a, b], training=False))
    assert np.all(out_a[..., :3] == 0)
    norm_a, norm_b = (keras.ops.convert_to_numpy(y) for y in layer.normalize([a, b], training=False))
    np.testing.assert_allclose(out_a[..., 3:], norm_a[..., 3:], rtol=1e-6)
    np.testing.assert_allclose(out_b, norm_b, rtol=1e-6)


def test_unknown_rule_and_bad_portion_are_refused():
    with pytest.raises(ValueError, match=r"ChannelExchange.rule must be one of \[.*\], got 'swap'"):
        ChannelExchange(2, rule="swap")
    with pytest.raises(ValueError, match=r"ChannelExchange.portion must be in \[0, 1\], got 1.5"):
        ChannelExchange(2, rule="fixed", portion=1.5)
