"""ChannelExchange against a NumPy reference: values, gradients, sparsity, saving, errors."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from cenkeras.layers import ChannelExchange, ParallelNormalization, modality_parts

THRESHOLD = 2e-2
EPS = 1e-5


# --- NumPy reference (written from the paper's Eq. 6, channel by channel) ---------------


def reference_norm(x, gamma, beta, mean, var, norm, training):
    if norm == "batch":
        if training:
            mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    elif training:
        mean, var = x.mean(axis=(1, 2), keepdims=True), x.var(axis=(1, 2), keepdims=True)
    return (x - mean) / np.sqrt(var + EPS) * gamma + beta


def reference_exchange(xs, params, norm, scope, training, threshold=THRESHOLD):
    m_count = len(xs)
    normed = [reference_norm(x, *p, norm=norm, training=training) for x, p in zip(xs, params)]
    channels = xs[0].shape[-1]
    parts = modality_parts(channels, m_count)
    outputs = []
    for m in range(m_count):
        out = normed[m].copy()
        for c in range(channels):
            in_part = parts[m][0] <= c < parts[m][1]
            replaced = abs(np.float32(params[m][0][c])) < np.float32(threshold)
            if scope == "part":
                replaced = replaced and in_part
            if scope is not None and m_count > 1 and replaced:
                out[..., c] = np.mean([normed[k][..., c] for k in range(m_count) if k != m], axis=0)
        outputs.append(out)
    return outputs


def make_params(m_count, channels, rng):
    """Gammas in [0.5, 1.5] with small ones (inside and outside each part), negatives,
    one exactly at the threshold (kept) and one just below it (exchanged)."""
    parts = modality_parts(channels, m_count)
    params = []
    for m in range(m_count):
        gamma = rng.uniform(0.5, 1.5, channels).astype(np.float32)
        start, stop = parts[m]
        gamma[start] = 1e-3
        gamma[start + 1] = -1e-3
        gamma[stop - 1] = np.float32(THRESHOLD)  # == threshold: kept
        gamma[(stop) % channels] = 5e-3  # below threshold, outside the part
        if m == 0:
            gamma[start + 2] = np.nextafter(np.float32(THRESHOLD), np.float32(0))
            gamma[start + 3] = -np.float32(THRESHOLD)  # |gamma| == threshold: kept
        beta = rng.uniform(-0.1, 0.1, channels).astype(np.float32)
        mean = rng.uniform(-0.1, 0.1, channels).astype(np.float32)
        var = rng.uniform(0.5, 1.5, channels).astype(np.float32)
        params.append((gamma, beta, mean, var))
    return params


def set_params(layer, params):
    for norm, (gamma, beta, mean, var) in zip(layer.norms, params):
        norm.gamma.assign(gamma)
        norm.beta.assign(beta)
        norm.moving_mean.assign(mean)
        norm.moving_variance.assign(var)


def make_layer(m_count, channels, params, **kwargs):
    layer = ChannelExchange(m_count, threshold=THRESHOLD, **kwargs)
    layer.build([(None, 5, 6, channels)] * m_count)
    set_params(layer, params)
    return layer


CASES = [
    (m, scope, norm, training)
    for m in (2, 3)
    for scope in ("all", "part")
    for norm in ("batch", "instance")
    for training in (False, True)
]


@pytest.mark.parametrize("m_count,scope,norm,training", CASES)
def test_values_match_numpy_reference(m_count, scope, norm, training):
    rng = np.random.default_rng(m_count * 10 + len(scope))
    channels = 12
    params = make_params(m_count, channels, rng)
    xs = [rng.normal(size=(3, 5, 6, channels)).astype(np.float32) for _ in range(m_count)]
    layer = make_layer(m_count, channels, params, norm=norm, scope=scope)

    outputs = layer([tf.constant(x) for x in xs], training=training)
    expected = reference_exchange(xs, params, norm, scope, training)
    for out, ref in zip(outputs, expected):
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-4, atol=1e-4)
    # The reference must see exchanges, or the comparison proves nothing.
    plain = [reference_norm(x, *p, norm=norm, training=training) for x, p in zip(xs, params)]
    assert any(np.abs(e - p).max() > 0.1 for e, p in zip(expected, plain))


@pytest.mark.parametrize("m_count,scope,norm,training", CASES)
def test_gradients_match_reference(m_count, scope, norm, training):
    """Gradients w.r.t. inputs, gammas and betas equal those of the channel-by-channel reference."""
    rng = np.random.default_rng(7)
    channels = 9
    params = make_params(m_count, channels, rng)
    xs = [tf.constant(rng.normal(size=(2, 4, 5, channels)).astype(np.float32)) for _ in range(m_count)]
    weights = [tf.constant(rng.normal(size=(2, 4, 5, channels)).astype(np.float32)) for _ in range(m_count)]
    layer = make_layer(m_count, channels, params, norm=norm, scope=scope)
    variables = [v for n in layer.norms for v in (n.gamma, n.beta)]

    with tf.GradientTape() as tape:
        tape.watch(xs)
        outputs = layer(xs, training=training)
        loss = tf.add_n([tf.reduce_sum(o * w) for o, w in zip(outputs, weights)])
    grads = tape.gradient(loss, xs + variables)

    gamma_vars = [tf.Variable(p[0]) for p in params]
    beta_vars = [tf.Variable(p[1]) for p in params]
    parts = modality_parts(channels, m_count)
    with tf.GradientTape() as tape:
        tape.watch(xs)
        normed = []
        for x, g, b, (_, _, moving_mean, moving_var) in zip(xs, gamma_vars, beta_vars, params):
            if training:
                axes = [0, 1, 2] if norm == "batch" else [1, 2]
                mean = tf.reduce_mean(x, axes, keepdims=True)
                var = tf.reduce_mean(tf.square(x - mean), axes, keepdims=True)
            else:
                mean, var = moving_mean, moving_var
            normed.append((x - mean) / tf.sqrt(var + EPS) * g + b)
        loss_ref = 0.0
        for m in range(m_count):
            channels_out = []
            for c in range(channels):
                replaced = abs(params[m][0][c]) < np.float32(THRESHOLD)
                if scope == "part":
                    replaced = replaced and parts[m][0] <= c < parts[m][1]
                if replaced:
                    donors = [normed[k][..., c] for k in range(m_count) if k != m]
                    channels_out.append(tf.add_n(donors) / len(donors))
                else:
                    channels_out.append(normed[m][..., c])
            loss_ref += tf.reduce_sum(tf.stack(channels_out, axis=-1) * weights[m])
    ref_vars = [v for g, b in zip(gamma_vars, beta_vars) for v in (g, b)]
    ref_grads = tape.gradient(loss_ref, xs + ref_vars)

    np.testing.assert_allclose(loss.numpy(), loss_ref.numpy(), rtol=1e-5)
    for grad, ref in zip(grads, ref_grads):
        np.testing.assert_allclose(grad.numpy(), ref.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("m_count", [2, 3])
def test_stacked_streams_of_unknown_size_match_the_reference_in_a_small_graph(m_count):
    """Streams stacked along the batch (as the models run them), traced for any batch, height and
    width (a serving signature): the reference's values, and the norm and exchange view the stack
    without slicing its shape apart (those slices were most of a served network's graph)."""
    rng = np.random.default_rng(40 + m_count)
    channels = 12
    params = make_params(m_count, channels, rng)
    xs = [rng.normal(size=(2, 5, 7, channels)).astype(np.float32) for _ in range(m_count)]
    layer = ChannelExchange(m_count, threshold=THRESHOLD, freeze_statistics=True)
    layer.build((None, None, None, channels))
    set_params(layer, params)
    run = tf.function(lambda x: layer(x, training=False), input_signature=[tf.TensorSpec([None, None, None, channels])])
    stacked = run(tf.constant(np.concatenate(xs, axis=0))).numpy()
    expected = reference_exchange(xs, params, "batch", "all", training=False)
    np.testing.assert_allclose(stacked, np.concatenate(expected, axis=0), atol=1e-5)
    ops = [op.type for op in run.get_concrete_function().graph.get_operations()]
    assert "StridedSlice" not in ops and ops.count("Reshape") == 2, sorted(set(ops))


def test_replaced_channel_passes_no_gradient_to_its_own_stream():
    channels = 6
    params = make_params(2, channels, np.random.default_rng(3))
    for gamma, *_ in params:
        gamma[:] = 1.0
    params[0][0][4] = 1e-3  # stream 0 replaces channel 4; stream 1 keeps it
    layer = make_layer(2, channels, params)
    rng = np.random.default_rng(4)
    xs = [tf.constant(rng.normal(size=(2, 4, 4, channels)).astype(np.float32)) for _ in range(2)]
    with tf.GradientTape() as tape:
        tape.watch(xs)
        out0, _ = layer(xs, training=True)
        loss = tf.reduce_sum(out0 * tf.constant(rng.normal(size=out0.shape).astype(np.float32)))
    grad_x0, grad_x1, grad_gamma0, grad_beta0 = tape.gradient(loss, xs + [layer.norms[0].gamma, layer.norms[0].beta])
    assert np.all(grad_x0.numpy()[..., 4] == 0.0)
    assert grad_gamma0.numpy()[4] == 0.0 and grad_beta0.numpy()[4] == 0.0
    assert np.abs(grad_x1.numpy()[..., 4]).max() > 1e-3  # the donor receives it
    assert np.abs(grad_x0.numpy()[..., :4]).max() > 1e-3  # kept channels still learn
    assert np.all(grad_x1.numpy()[..., :4] == 0.0)  # stream 1 only feeds the replaced channel


def test_the_mask_passes_no_gradient_to_the_scales_it_is_computed_from():
    """Stop-gradient on the mask: a scale just under the threshold (its channel replaced) gets no
    gradient at all, one just over it (kept) gets its norm's gradient, and the mask itself is not
    differentiable in the scales."""
    channels = 4
    params = make_params(2, channels, np.random.default_rng(0))
    for gamma, *_ in params:
        gamma[:] = 1.0
    params[0][0][1] = THRESHOLD * 0.99  # replaced: takes stream 1's channel 1
    params[0][0][2] = THRESHOLD * 1.01  # kept, though barely
    layer = make_layer(2, channels, params)
    xs = [tf.constant(np.random.default_rng(s).normal(size=(2, 4, 4, channels)).astype(np.float32)) for s in (1, 2)]
    with tf.GradientTape(persistent=True) as tape:
        out0, _ = layer(xs, training=True)
        loss = tf.reduce_sum(out0 * tf.constant(np.random.default_rng(3).normal(size=out0.shape).astype(np.float32)))
        masks = [tf.cast(mask, tf.float32) for mask in layer.exchange_masks()]
    grad_gamma0 = tape.gradient(loss, layer.norms[0].gamma).numpy()
    assert grad_gamma0[1] == 0.0 and abs(grad_gamma0[2]) > 1e-4
    assert masks[0].numpy().tolist() == [0.0, 1.0, 0.0, 0.0]
    assert tape.gradient(tf.reduce_sum(masks[0]), layer.norms[0].gamma) is None


@pytest.mark.parametrize("scope", [None, "all"])
def test_single_modality_or_scope_none_never_exchanges(scope):
    channels = 8
    m_count = 1 if scope == "all" else 2
    params = make_params(m_count, channels, np.random.default_rng(1))
    layer = make_layer(m_count, channels, params, scope=scope)
    xs = [np.random.default_rng(2).normal(size=(2, 3, 3, channels)).astype(np.float32)] * m_count
    outputs = layer([tf.constant(x) for x in xs], training=False)
    for out, x, p in zip(outputs, xs, params):
        np.testing.assert_allclose(out.numpy(), reference_norm(x, *p, "batch", False), rtol=1e-5, atol=1e-5)
    assert all(s["exchanged"] == 0 for s in layer.exchange_statistics())


def test_threshold_equality_is_kept_and_just_below_is_exchanged():
    layer = ChannelExchange(2, threshold=THRESHOLD)
    layer.build([(None, 1, 1, 3)] * 2)
    below = np.nextafter(np.float32(THRESHOLD), np.float32(0))
    layer.norms[0].gamma.assign(np.array([THRESHOLD, -THRESHOLD, below], np.float32))
    layer.norms[1].gamma.assign(np.ones(3, np.float32))
    mask0, mask1 = (m.numpy() for m in layer.exchange_masks())
    assert mask0.tolist() == [False, False, True]
    assert not mask1.any()


@pytest.mark.parametrize("channels,m_count", [(12, 2), (10, 3), (7, 2)])
@pytest.mark.parametrize("sparsity_scope", ["part", "all"])
def test_sparsity_loss_is_l1_over_each_modality_part(channels, m_count, sparsity_scope):
    rng = np.random.default_rng(channels)
    params = make_params(m_count, channels, rng)
    layer = make_layer(m_count, channels, params, sparsity=3e-4, sparsity_scope=sparsity_scope)
    bounds = np.array_split(np.arange(channels), m_count)
    expected = 0.0
    for m, (gamma, *_) in enumerate(params):
        chosen = gamma[bounds[m]] if sparsity_scope == "part" else gamma
        expected += 3e-4 * np.abs(chosen).sum()
    assert len(layer.losses) == m_count
    np.testing.assert_allclose(float(sum(layer.losses)), expected, rtol=1e-6)


def test_no_sparsity_means_no_loss():
    layer = make_layer(2, 4, make_params(2, 4, np.random.default_rng(0)))
    assert layer.losses == []


def test_exchange_statistics_count_channels_in_and_outside_the_part():
    channels = 12
    params = make_params(2, channels, np.random.default_rng(5))
    stats_all = make_layer(2, channels, params, scope="all").exchange_statistics()
    stats_part = make_layer(2, channels, params, scope="part").exchange_statistics()
    # make_params: modality 0 has 3 below threshold in its part (1e-3, -1e-3, just below)
    # and one outside it; modality 1 has 2 in its part and 1 outside.
    assert stats_all[0] == {
        "channels": 12,
        "part_size": 6,
        "below_threshold": 4,
        "below_in_part": 3,
        "below_outside_part": 1,
        "exchanged": 4,
    }
    assert stats_part[0]["exchanged"] == 3
    assert stats_all[1]["below_in_part"] == 2 and stats_all[1]["below_outside_part"] == 1


def test_keras_round_trip_in_safe_mode(tmp_path):
    channels = 8
    params = make_params(3, channels, np.random.default_rng(9))
    inputs = [keras.Input((4, 4, channels)) for _ in range(3)]
    layer = ChannelExchange(3, threshold=THRESHOLD, norm="instance", scope="part", sparsity=1e-3, name="cx")
    model = keras.Model(inputs, layer(inputs))
    set_params(layer, params)
    xs = [np.random.default_rng(k).normal(size=(2, 4, 4, channels)).astype(np.float32) for k in range(3)]
    before = [o.numpy() for o in model(xs, training=False)]

    path = tmp_path / "exchange.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    after = [o.numpy() for o in loaded(xs, training=False)]
    for b, a in zip(before, after):
        np.testing.assert_array_equal(b, a)
    restored = loaded.get_layer("cx")
    assert isinstance(restored, ChannelExchange)
    assert restored.get_config() == layer.get_config()
    np.testing.assert_allclose(float(sum(loaded.losses)), float(sum(model.losses)), rtol=1e-6)


def test_get_config_round_trip_keeps_every_argument():
    layer = ChannelExchange(
        3,
        threshold=1e-2,
        norm="instance",
        scope="part",
        sparsity=2e-4,
        sparsity_scope="all",
        share_norms=False,
        freeze_statistics=True,
        epsilon=1e-3,
        name="x",
    )
    clone = ChannelExchange.from_config(layer.get_config())
    for key in (
        "num_modalities",
        "threshold",
        "norm",
        "scope",
        "sparsity",
        "sparsity_scope",
        "freeze_statistics",
        "share_norms",
        "epsilon",
    ):
        assert clone.get_config()[key] == layer.get_config()[key], key


def test_freeze_statistics_uses_running_statistics_in_training():
    channels = 4
    params = make_params(2, channels, np.random.default_rng(6))
    layer = make_layer(2, channels, params, freeze_statistics=True)
    xs = [np.random.default_rng(k).normal(size=(2, 3, 3, channels)).astype(np.float32) for k in range(2)]
    out = layer([tf.constant(x) for x in xs], training=True)
    expected = reference_exchange(xs, params, "batch", "all", training=False)
    np.testing.assert_allclose(out[0].numpy(), expected[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(layer.norms[0].moving_mean.numpy(), params[0][2])


def test_shared_norms_are_one_layer():
    layer = ChannelExchange(3, share_norms=True, sparsity=1e-3)
    layer.build([(None, 2, 2, 6)] * 3)
    assert layer.norms[0] is layer.norms[1] is layer.norms[2]
    assert len(layer.trainable_weights) == 2
    layer.norms[0].gamma.assign(np.arange(6, dtype=np.float32) - 2.5)
    np.testing.assert_allclose(float(sum(layer.losses)), 1e-3 * np.abs(np.arange(6) - 2.5).sum(), rtol=1e-6)


# --- Errors a user can cause ---------------------------------------------------------------


def test_wrong_number_of_modalities_is_a_clear_error():
    layer = ChannelExchange(2, name="cx")
    with pytest.raises(ValueError, match="expected a list of 2 tensors"):
        layer([tf.zeros((1, 2, 2, 4))] * 3)


def test_different_channel_counts_are_a_clear_error():
    layer = ChannelExchange(2, name="cx")
    with pytest.raises(ValueError, match="same channel count"):
        layer([tf.zeros((1, 2, 2, 4)), tf.zeros((1, 2, 2, 5))])


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1e-2, "big"])
def test_bad_threshold_is_a_clear_error(bad):
    with pytest.raises(ValueError, match=r"ChannelExchange.threshold must be a finite number >= 0"):
        ChannelExchange(2, threshold=bad)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"scope": "half"}, r"ChannelExchange.scope must be one of \['all', 'part', None\], got 'half'"),
        ({"sparsity_scope": "some"}, "ChannelExchange.sparsity_scope must be one of"),
        ({"sparsity": math.nan}, "ChannelExchange.sparsity must be a finite number"),
        ({"norm": "group"}, "unknown norm"),
    ],
)
def test_bad_options_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ChannelExchange(2, **kwargs)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_num_modalities_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="num_modalities"):
        ParallelNormalization(bad)


def test_mask_is_compared_in_float32_under_a_bfloat16_policy():
    """0.0199999 rounds to 0.02002 in bfloat16: a bfloat16 compare would keep the channel."""
    layer = ChannelExchange(2, threshold=THRESHOLD, dtype="mixed_bfloat16")
    xs = [tf.random.normal((2, 3, 3, 2), dtype=tf.bfloat16) for _ in range(2)]
    layer.build([x.shape for x in xs])
    layer.norms[0].gamma.assign([0.0199999, 1.0])
    outputs = layer(xs, training=False)
    assert outputs[0].dtype == tf.bfloat16
    assert layer.exchange_statistics()[0]["exchanged"] == 1
    np.testing.assert_array_equal(outputs[0].numpy()[..., 0], outputs[1].numpy()[..., 0])
