"""pytorch-fid's Inception in Keras against a PyTorch computation of the same network from the same file.

The reference below is written from pytorch-fid's module list in PyTorch's
own terms (NCHW, explicit paddings, `count_include_pad=False`, the max pool
of Mixed_7c, `F.interpolate(align_corners=False)`); it makes random weights
as it goes, which are saved as a `.pth` file and loaded by cenkeras.
"""

import numpy as np
import pytest

from cenkeras.interop.torch_state_dict import StateDictError

torch = pytest.importorskip("torch")
F = torch.nn.functional

# The full Inception v3 (24 M parameters), built and run per test.
pytestmark = pytest.mark.slow


class TorchReference:
    """The FID Inception forward pass; `weights` fills up with random tensors on the first call."""

    def __init__(self, seed=0):
        self.weights = {}
        self.generator = torch.Generator().manual_seed(seed)

    def _new(self, key, shape, low=-1.0, high=1.0):
        if key not in self.weights:
            self.weights[key] = low + (high - low) * torch.rand(shape, generator=self.generator)
        return self.weights[key]

    def conv(self, x, name, out, kernel, stride=1, padding=0):
        kernel = (kernel, kernel) if isinstance(kernel, int) else kernel
        fan_in = x.shape[1] * kernel[0] * kernel[1]
        weight = self._new(f"{name}.conv.weight", (out, x.shape[1], *kernel)) * (3.0 / fan_in) ** 0.5
        self.weights[f"{name}.conv.weight"] = weight
        x = F.conv2d(x, weight, stride=stride, padding=padding)
        gamma = self._new(f"{name}.bn.weight", (out,), 0.5, 1.5)
        beta = self._new(f"{name}.bn.bias", (out,), -0.2, 0.2)
        mean = self._new(f"{name}.bn.running_mean", (out,), -0.1, 0.1)
        var = self._new(f"{name}.bn.running_var", (out,), 0.5, 1.5)
        return F.relu(F.batch_norm(x, mean, var, gamma, beta, training=False, eps=1e-3))

    @staticmethod
    def avg(x):
        return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)

    def block_a(self, x, p, pool_features):
        a = self.conv(x, f"{p}.branch1x1", 64, 1)
        b = self.conv(self.conv(x, f"{p}.branch5x5_1", 48, 1), f"{p}.branch5x5_2", 64, 5, padding=2)
        c = self.conv(x, f"{p}.branch3x3dbl_1", 64, 1)
        c = self.conv(self.conv(c, f"{p}.branch3x3dbl_2", 96, 3, padding=1), f"{p}.branch3x3dbl_3", 96, 3, padding=1)
        d = self.conv(self.avg(x), f"{p}.branch_pool", pool_features, 1)
        return torch.cat([a, b, c, d], 1)

    def block_b(self, x, p):
        a = self.conv(x, f"{p}.branch3x3", 384, 3, stride=2)
        c = self.conv(x, f"{p}.branch3x3dbl_1", 64, 1)
        c = self.conv(self.conv(c, f"{p}.branch3x3dbl_2", 96, 3, padding=1), f"{p}.branch3x3dbl_3", 96, 3, stride=2)
        return torch.cat([a, c, F.max_pool2d(x, 3, stride=2)], 1)

    def block_c(self, x, p, c7):
        a = self.conv(x, f"{p}.branch1x1", 192, 1)
        b = self.conv(x, f"{p}.branch7x7_1", c7, 1)
        b = self.conv(b, f"{p}.branch7x7_2", c7, (1, 7), padding=(0, 3))
        b = self.conv(b, f"{p}.branch7x7_3", 192, (7, 1), padding=(3, 0))
        c = self.conv(x, f"{p}.branch7x7dbl_1", c7, 1)
        c = self.conv(c, f"{p}.branch7x7dbl_2", c7, (7, 1), padding=(3, 0))
        c = self.conv(c, f"{p}.branch7x7dbl_3", c7, (1, 7), padding=(0, 3))
        c = self.conv(c, f"{p}.branch7x7dbl_4", c7, (7, 1), padding=(3, 0))
        c = self.conv(c, f"{p}.branch7x7dbl_5", 192, (1, 7), padding=(0, 3))
        d = self.conv(self.avg(x), f"{p}.branch_pool", 192, 1)
        return torch.cat([a, b, c, d], 1)

    def block_d(self, x, p):
        a = self.conv(self.conv(x, f"{p}.branch3x3_1", 192, 1), f"{p}.branch3x3_2", 320, 3, stride=2)
        b = self.conv(x, f"{p}.branch7x7x3_1", 192, 1)
        b = self.conv(b, f"{p}.branch7x7x3_2", 192, (1, 7), padding=(0, 3))
        b = self.conv(b, f"{p}.branch7x7x3_3", 192, (7, 1), padding=(3, 0))
        b = self.conv(b, f"{p}.branch7x7x3_4", 192, 3, stride=2)
        return torch.cat([a, b, F.max_pool2d(x, 3, stride=2)], 1)

    def block_e(self, x, p, max_pool):
        a = self.conv(x, f"{p}.branch1x1", 320, 1)
        b = self.conv(x, f"{p}.branch3x3_1", 384, 1)
        b = torch.cat(
            [
                self.conv(b, f"{p}.branch3x3_2a", 384, (1, 3), padding=(0, 1)),
                self.conv(b, f"{p}.branch3x3_2b", 384, (3, 1), padding=(1, 0)),
            ],
            1,
        )
        c = self.conv(self.conv(x, f"{p}.branch3x3dbl_1", 448, 1), f"{p}.branch3x3dbl_2", 384, 3, padding=1)
        c = torch.cat(
            [
                self.conv(c, f"{p}.branch3x3dbl_3a", 384, (1, 3), padding=(0, 1)),
                self.conv(c, f"{p}.branch3x3dbl_3b", 384, (3, 1), padding=(1, 0)),
            ],
            1,
        )
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if max_pool else self.avg(x)
        return torch.cat([a, b, c, self.conv(pooled, f"{p}.branch_pool", 192, 1)], 1)

    def __call__(self, images):
        """NHWC RGB in [0, 1] -> (N, 2048), as pytorch-fid's InceptionV3 wrapper computes it."""
        x = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
        x = 2 * F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False) - 1
        x = self.conv(x, "Conv2d_1a_3x3", 32, 3, stride=2)
        x = self.conv(x, "Conv2d_2a_3x3", 32, 3)
        x = F.max_pool2d(self.conv(x, "Conv2d_2b_3x3", 64, 3, padding=1), 3, stride=2)
        x = self.conv(x, "Conv2d_3b_1x1", 80, 1)
        x = F.max_pool2d(self.conv(x, "Conv2d_4a_3x3", 192, 3), 3, stride=2)
        for prefix, pool_features in (("Mixed_5b", 32), ("Mixed_5c", 64), ("Mixed_5d", 64)):
            x = self.block_a(x, prefix, pool_features)
        x = self.block_b(x, "Mixed_6a")
        for prefix, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
            x = self.block_c(x, prefix, c7)
        x = self.block_d(x, "Mixed_7a")
        x = self.block_e(x, "Mixed_7b", max_pool=False)
        x = self.block_e(x, "Mixed_7c", max_pool=True)
        return F.adaptive_avg_pool2d(x, 1).flatten(1).numpy()


@pytest.fixture(scope="module")
def reference_and_file(tmp_path_factory):
    reference = TorchReference()
    images = np.random.default_rng(0).uniform(0, 1, (2, 120, 150, 3)).astype(np.float32)
    with torch.no_grad():
        expected = reference(images)
    state = dict(reference.weights)
    state["fc.weight"] = torch.zeros(1008, 2048)  # the published file keeps its classifier
    state["fc.bias"] = torch.zeros(1008)
    state["Conv2d_1a_3x3.bn.num_batches_tracked"] = torch.tensor(0)
    path = tmp_path_factory.mktemp("fid") / "pt_inception-2015-12-05-test.pth"
    torch.save(state, path)
    return images, expected, path, state


def test_keras_port_computes_the_torch_features_from_the_same_file(reference_and_file):
    from cenkeras.metrics.fid import load_fid_network

    images, expected, path, _ = reference_and_file
    network = load_fid_network(path)
    assert network.description == "pytorch-fid Inception (pt_inception-2015-12-05-test.pth)"
    kernels = [w for w in network.model.weights if w.path.endswith("kernel")]
    assert network.model.output_shape == (None, 2048) and len(kernels) == 94  # Inception v3's convolutions
    features = network(images)
    assert features.shape == (2, 2048) and expected.std() > 0.1  # the reference computes something
    np.testing.assert_allclose(features, expected, rtol=2e-3, atol=2e-3 * np.abs(expected).max())


def test_a_file_of_another_network_is_refused_naming_its_keys(reference_and_file, tmp_path):
    from cenkeras.metrics.fid_inception import PytorchFidInception

    _, _, _, state = reference_and_file
    broken = {key: value for key, value in state.items() if not key.startswith("Mixed_7c.branch_pool")}
    broken["layer1.0.conv1.weight"] = torch.zeros(64, 64, 1, 1)
    with pytest.raises(StateDictError, match=r"missing Mixed_7c\.branch_pool\.\*; unexpected layer1"):
        PytorchFidInception.from_state_dict({k: v.numpy() for k, v in broken.items()}, source="x.pth")
    wrong = dict(state)
    wrong["Mixed_5b.branch1x1.conv.weight"] = torch.zeros(64, 192, 3, 3)
    with pytest.raises(StateDictError, match=r"Mixed_5b\.branch1x1\.conv\.weight: shape"):
        PytorchFidInception.from_state_dict({k: v.numpy() for k, v in wrong.items()})
