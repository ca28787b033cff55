"""CEN's channel exchange inside a Keras model of your own.

Two modalities go through the same convolutions (shared weights); after each
convolution a `ChannelExchange` layer normalises every stream with its own
BatchNorm and replaces the channels whose BatchNorm scale has fallen under the
threshold by the other stream's. Its L1 term (`sparsity`) on a part of each
stream's scales is what drives them there; it is added to the model's losses
by the layer itself, so `fit` needs nothing else.

    python examples/exchange_in_your_model.py              # a few hundred steps on random data
    python examples/exchange_in_your_model.py --steps 5    # a quick look
"""

import argparse

import keras
import numpy as np

from cenkeras.layers import ChannelExchange


def build_two_stream_classifier(num_classes=4, width=16, threshold=2e-2, sparsity=2e-2):
    """A small two-modality classifier: shared convolutions, private norms that exchange channels."""
    rgb = keras.Input((32, 32, 3), name="rgb")
    depth = keras.Input((32, 32, 3), name="depth")
    streams = [rgb, depth]
    for block in range(3):
        conv = keras.layers.Conv2D(width * 2**block, 3, strides=2, padding="same", use_bias=False)
        streams = [conv(x) for x in streams]  # one convolution, both modalities
        exchange = ChannelExchange(2, threshold=threshold, sparsity=sparsity, name=f"exchange{block}")
        streams = [keras.layers.ReLU()(x) for x in exchange(streams)]
    pooled = [keras.layers.GlobalAveragePooling2D()(x) for x in streams]
    head = keras.layers.Dense(num_classes)  # shared too; the two predictions are averaged
    logits = keras.layers.Average()([head(x) for x in pooled])
    return keras.Model({"rgb": rgb, "depth": depth}, logits)


def random_task(samples, num_classes, seed=0):
    """Images whose class is written half in the rgb image and half in the depth image."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, samples)
    rgb = rng.normal(size=(samples, 32, 32, 3)).astype("float32")
    depth = rng.normal(size=(samples, 32, 32, 3)).astype("float32")
    rgb[..., 0] += (labels[:, None, None] % 2) * 1.5  # one bit of the label in rgb
    depth[..., 0] += (labels[:, None, None] // 2) * 1.5  # the other bit in depth
    return {"rgb": rgb, "depth": depth}, labels


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    model = build_two_stream_classifier()
    model.compile(
        keras.optimizers.Adam(1e-2),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    inputs, labels = random_task(512, 4, args.seed)
    batch = 32
    epochs = max(1, args.steps * batch // len(labels))
    history = model.fit(inputs, labels, batch_size=batch, epochs=epochs, verbose=0)
    print(f"trained {epochs} epochs: accuracy {history.history['accuracy'][-1]:.3f}")
    for block in range(3):
        layer = model.get_layer(f"exchange{block}")
        below = [stats["below_threshold"] for stats in layer.exchange_statistics()]
        print(f"{layer.name}: channels exchanged per modality (rgb, depth): {below}")
    return model


if __name__ == "__main__":
    main()
