"""pytorch-fid's Inception network in Keras, loaded from its PyTorch weights file.

FID values are only comparable when made by the same network. The paper's
(and the official code's) come from pytorch-fid's port of the TensorFlow
FID Inception (`pt_inception-2015-12-05-6726825d.pth`), which differs from
Keras' ImageNet InceptionV3 in its weights and in three places of its
structure, all kept here:

- every average pool of the Mixed blocks leaves the padding out of the
  mean (PyTorch's `count_include_pad=False`; TensorFlow's SAME pooling does
  so already);
- the last block (`Mixed_7c`) pools its fourth branch with a max pool;
- the input (RGB in [0, 1]) is resized to 299 x 299 bilinearly with half-pixel
  centres (PyTorch's `align_corners=False`) and then scaled to [-1, 1].

The file is read with `torch.load(weights_only=True)` (the `torch` extra):
tensors only, no pickled code. Layers are named after the PyTorch modules
(`Mixed_5b.branch1x1`), so every weight of the file has exactly one home.
"""

from pathlib import Path

import keras
import numpy as np

from cenkeras.interop.torch_state_dict import StateDictError, kernel_to_keras


class _Builder:
    """Builds the functional graph and remembers which PyTorch prefix each conv/BN pair stands for."""

    def __init__(self):
        self.blocks = {}  # torch prefix -> (Conv2D, BatchNormalization)

    def conv(self, x, prefix, filters, kernel, strides=1, padding="same"):
        """PyTorch's BasicConv2d: convolution without bias, BN (eps 1e-3), ReLU.

        Every stride-2 convolution of the network is unpadded and every stride-1
        one pads symmetrically by half its (odd) kernel: Keras' VALID and SAME.
        """
        name = prefix.replace(".", "_")
        conv = keras.layers.Conv2D(filters, kernel, strides, padding=padding, use_bias=False, name=f"{name}_conv")
        norm = keras.layers.BatchNormalization(epsilon=1e-3, name=f"{name}_bn")
        self.blocks[prefix] = (conv, norm)
        return keras.layers.ReLU(name=f"{name}_relu")(norm(conv(x)))

    @staticmethod
    def average_pool(x):
        # SAME average pooling divides by the unpadded count: count_include_pad=False.
        return keras.layers.AveragePooling2D(3, 1, padding="same")(x)

    def inception_a(self, x, prefix, pool_features):
        branch1x1 = self.conv(x, f"{prefix}.branch1x1", 64, 1)
        branch5x5 = self.conv(x, f"{prefix}.branch5x5_1", 48, 1)
        branch5x5 = self.conv(branch5x5, f"{prefix}.branch5x5_2", 64, 5)
        double = self.conv(x, f"{prefix}.branch3x3dbl_1", 64, 1)
        double = self.conv(double, f"{prefix}.branch3x3dbl_2", 96, 3)
        double = self.conv(double, f"{prefix}.branch3x3dbl_3", 96, 3)
        pool = self.conv(self.average_pool(x), f"{prefix}.branch_pool", pool_features, 1)
        return keras.layers.Concatenate()([branch1x1, branch5x5, double, pool])

    def inception_b(self, x, prefix):
        branch3x3 = self.conv(x, f"{prefix}.branch3x3", 384, 3, 2, "valid")
        double = self.conv(x, f"{prefix}.branch3x3dbl_1", 64, 1)
        double = self.conv(double, f"{prefix}.branch3x3dbl_2", 96, 3)
        double = self.conv(double, f"{prefix}.branch3x3dbl_3", 96, 3, 2, "valid")
        pool = keras.layers.MaxPooling2D(3, 2)(x)
        return keras.layers.Concatenate()([branch3x3, double, pool])

    def inception_c(self, x, prefix, channels_7x7):
        c7 = channels_7x7
        branch1x1 = self.conv(x, f"{prefix}.branch1x1", 192, 1)
        branch7x7 = self.conv(x, f"{prefix}.branch7x7_1", c7, 1)
        branch7x7 = self.conv(branch7x7, f"{prefix}.branch7x7_2", c7, (1, 7))
        branch7x7 = self.conv(branch7x7, f"{prefix}.branch7x7_3", 192, (7, 1))
        double = self.conv(x, f"{prefix}.branch7x7dbl_1", c7, 1)
        for index, (filters, kernel) in enumerate([(c7, (7, 1)), (c7, (1, 7)), (c7, (7, 1)), (192, (1, 7))], 2):
            double = self.conv(double, f"{prefix}.branch7x7dbl_{index}", filters, kernel)
        pool = self.conv(self.average_pool(x), f"{prefix}.branch_pool", 192, 1)
        return keras.layers.Concatenate()([branch1x1, branch7x7, double, pool])

    def inception_d(self, x, prefix):
        branch3x3 = self.conv(x, f"{prefix}.branch3x3_1", 192, 1)
        branch3x3 = self.conv(branch3x3, f"{prefix}.branch3x3_2", 320, 3, 2, "valid")
        branch7x7 = self.conv(x, f"{prefix}.branch7x7x3_1", 192, 1)
        branch7x7 = self.conv(branch7x7, f"{prefix}.branch7x7x3_2", 192, (1, 7))
        branch7x7 = self.conv(branch7x7, f"{prefix}.branch7x7x3_3", 192, (7, 1))
        branch7x7 = self.conv(branch7x7, f"{prefix}.branch7x7x3_4", 192, 3, 2, "valid")
        pool = keras.layers.MaxPooling2D(3, 2)(x)
        return keras.layers.Concatenate()([branch3x3, branch7x7, pool])

    def inception_e(self, x, prefix, max_pool):
        branch1x1 = self.conv(x, f"{prefix}.branch1x1", 320, 1)
        branch3x3 = self.conv(x, f"{prefix}.branch3x3_1", 384, 1)
        branch3x3 = keras.layers.Concatenate()(
            [
                self.conv(branch3x3, f"{prefix}.branch3x3_2a", 384, (1, 3)),
                self.conv(branch3x3, f"{prefix}.branch3x3_2b", 384, (3, 1)),
            ]
        )
        double = self.conv(x, f"{prefix}.branch3x3dbl_1", 448, 1)
        double = self.conv(double, f"{prefix}.branch3x3dbl_2", 384, 3)
        double = keras.layers.Concatenate()(
            [
                self.conv(double, f"{prefix}.branch3x3dbl_3a", 384, (1, 3)),
                self.conv(double, f"{prefix}.branch3x3dbl_3b", 384, (3, 1)),
            ]
        )
        # The TensorFlow FID graph max-pools in its last block; pytorch-fid keeps that quirk.
        pooled = keras.layers.MaxPooling2D(3, 1, padding="same")(x) if max_pool else self.average_pool(x)
        pool = self.conv(pooled, f"{prefix}.branch_pool", 192, 1)
        return keras.layers.Concatenate()([branch1x1, branch3x3, double, pool])


def build_fid_inception():
    """`(model, blocks)`: pytorch-fid's Inception as a Keras model (RGB in [0, 1] -> 2048 features).

    `blocks` maps each PyTorch module prefix (`Conv2d_1a_3x3`, `Mixed_5b.branch1x1`, ...)
    to its `(Conv2D, BatchNormalization)` pair.
    """
    b = _Builder()
    inputs = keras.Input((None, None, 3), name="images")
    x = keras.layers.Resizing(299, 299, interpolation="bilinear", name="resize_299")(inputs)
    x = keras.layers.Rescaling(2.0, offset=-1.0, name="to_minus_one_one")(x)
    x = b.conv(x, "Conv2d_1a_3x3", 32, 3, 2, "valid")
    x = b.conv(x, "Conv2d_2a_3x3", 32, 3, 1, "valid")
    x = b.conv(x, "Conv2d_2b_3x3", 64, 3)
    x = keras.layers.MaxPooling2D(3, 2)(x)
    x = b.conv(x, "Conv2d_3b_1x1", 80, 1, 1, "valid")
    x = b.conv(x, "Conv2d_4a_3x3", 192, 3, 1, "valid")
    x = keras.layers.MaxPooling2D(3, 2)(x)
    x = b.inception_a(x, "Mixed_5b", 32)
    x = b.inception_a(x, "Mixed_5c", 64)
    x = b.inception_a(x, "Mixed_5d", 64)
    x = b.inception_b(x, "Mixed_6a")
    for prefix, channels in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
        x = b.inception_c(x, prefix, channels)
    x = b.inception_d(x, "Mixed_7a")
    x = b.inception_e(x, "Mixed_7b", max_pool=False)
    x = b.inception_e(x, "Mixed_7c", max_pool=True)
    features = keras.layers.GlobalAveragePooling2D(name="pool3")(x)
    return keras.Model(inputs, features, name="pytorch_fid_inception"), b.blocks


def load_fid_inception_weights(blocks, state_dict, source="the weights file"):
    """Copy a pytorch-fid state dict into `blocks`; every conv/BN weight must be there with its shape.

    The classifier (`fc.*`) and PyTorch's `num_batches_tracked` counters are not used.
    """
    used = set()
    problems = []
    for prefix, (conv, norm) in blocks.items():
        wanted = {
            "conv.weight": None,
            "bn.weight": None,
            "bn.bias": None,
            "bn.running_mean": None,
            "bn.running_var": None,
        }
        missing = [suffix for suffix in wanted if f"{prefix}.{suffix}" not in state_dict]
        if missing:
            problems.append(f"missing {prefix}.*" if len(missing) == len(wanted) else f"missing {prefix}.{missing[0]}")
            continue
        for suffix in wanted:
            wanted[suffix] = np.asarray(state_dict[f"{prefix}.{suffix}"], np.float32)
            used.add(f"{prefix}.{suffix}")
        kernel = kernel_to_keras(wanted["conv.weight"])
        expected = tuple(conv.kernel.shape)
        if kernel.shape != expected:
            problems.append(f"{prefix}.conv.weight: shape {kernel.shape} in Keras layout, expected {expected}")
            continue
        conv.kernel.assign(kernel)
        norm.set_weights([wanted["bn.weight"], wanted["bn.bias"], wanted["bn.running_mean"], wanted["bn.running_var"]])
    unused = sorted(
        key for key in state_dict if key not in used and not key.startswith("fc.") and "num_batches_tracked" not in key
    )
    problems += [f"unexpected {key}" for key in unused]
    if problems:
        listing = "; ".join(problems[:5]) + (f"; ... ({len(problems)} in all)" if len(problems) > 5 else "")
        raise StateDictError(f"{source} is not a pytorch-fid Inception state dict: {listing}")


class PytorchFidInception:
    """pytorch-fid's Inception (the paper's FID network) on images in [0, 1], from a `.pth` file.

    `description` names the network and its file in every FID report.

    Example (Inception v3's 94 convolutions, each with its BN, to the 2048-d pool features)::

        network = PytorchFidInception.from_file("pt_inception-2015-12-05-6726825d.pth")
        network.description  # 'pytorch-fid Inception (pt_inception-2015-12-05-6726825d.pth)'
        features = network(images)  # (N, 2048)
    """

    def __init__(self, model, description):
        self.model = model
        self.description = description
        self._infer = None

    @classmethod
    def from_file(cls, path):
        from cenkeras.interop.checkpoint_files import read_state_dict

        path = Path(path).expanduser()
        network = cls.from_state_dict(read_state_dict(path), source=str(path))
        network.description = f"pytorch-fid Inception ({path.name})"
        return network

    @classmethod
    def from_state_dict(cls, state_dict, source="the state dict"):
        model, blocks = build_fid_inception()
        load_fid_inception_weights(blocks, state_dict, source)
        return cls(model, "pytorch-fid Inception")

    def __call__(self, images, batch_size=50):
        """2048-d pool features (float64) of `images`, NHWC RGB in [0, 1], any size."""
        import tensorflow as tf

        from cenkeras.utils.inference import inference_function

        if self._infer is None:  # one function for every image set this network scores
            self._infer = inference_function(self.model)
        features = [
            self._infer(tf.convert_to_tensor(images[start : start + batch_size], tf.float32)).numpy()
            for start in range(0, len(images), batch_size)
        ]
        return np.concatenate(features, axis=0).astype(np.float64)
