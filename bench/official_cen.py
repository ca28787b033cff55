"""The official PyTorch code's side of the same-run ratios in `bench/bench_models.py`.

The official models are imported at run time from a checkout of the
official repository (https://github.com/yikaiw/CEN) that the user names
(`make bench OFFICIAL_CEN=/path/to/CEN`); nothing of that code is copied
here. torch comes from the `torch` extra (2.13.0, CPU). Each workload mirrors
its cenkeras counterpart in `bench/workloads.py`, as the official training
and evaluation scripts do it:

- segmenter train: RefineNet-101, 2 modalities, batch 2, BatchNorm layers in
  eval mode (frozen statistics), dropout on; every output (each modality and
  the ensemble) bilinearly upsampled to the label size, log-softmax + NLL,
  plus the L1 penalty on the exchanged half of every bn2 scale; two SGD
  optimizers (encoder 5e-4, decoder 3e-3, momentum 0.9, weight decay 1e-5).
- SavedModel inference (the cenkeras row is the exported serving model):
  batch 1 at 480x640, eval mode, no grad, the ensemble upsampled to the
  input size and its argmax (the labels a caller receives).
- generator fwd+bwd / inference: the U-Net-256 generator, 2 inputs, exchange
  on; L1 to the target on every output plus the L1 penalty, backward.

Precision "mixed_bfloat16" runs under `torch.autocast("cpu", torch.bfloat16)`,
the official code's nearest equivalent of Keras' mixed bf16 policy.
"""

import importlib
import os
import sys
import types
from pathlib import Path

import numpy as np

SEGMENTATION = "semantic_segmentation"
TRANSLATION = "image2image_translation"


def check_checkout(root):
    """The checkout's path, or a ValueError naming what is missing from it."""
    root = Path(root).expanduser()
    for part in (SEGMENTATION, TRANSLATION):
        if not (root / part / "models" / "model.py").is_file():
            raise ValueError(
                f"OFFICIAL_CEN={root}: no {part}/models/model.py there; "
                "point it at a checkout of https://github.com/yikaiw/CEN"
            )
    return root


def _import_models(root, part):
    """The official `models.model` module of `part`, imported from the checkout.

    The segmentation model file imports a download helper from `utils`, whose
    package pulls in OpenCV and matplotlib for its visualisations; random
    weights need neither, so a module holding only that name stands in for it.
    """
    folder = str(check_checkout(root) / part)
    sys.path.insert(0, folder)
    if part == SEGMENTATION:
        helpers = types.ModuleType("utils.helpers")

        def maybe_download(*args, **kwargs):
            raise RuntimeError("the benchmark uses random weights; nothing is downloaded")

        helpers.maybe_download = maybe_download
        package = types.ModuleType("utils")
        package.__path__ = []
        package.helpers = helpers
        sys.modules.update({"utils": package, "utils.helpers": helpers})
    return importlib.import_module("models.model")


def _autocast(torch, precision):
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "mixed_bfloat16")


def _random(torch, shape, seed):
    return torch.from_numpy(np.random.default_rng(seed).normal(size=shape).astype(np.float32))


def segmenter(torch, root, spec):
    module = _import_models(root, SEGMENTATION)
    F = torch.nn.functional
    model = module.refinenet(101, 40, 2, 2e-2)
    if spec["kind"] == "SavedModel inference":
        model.eval()
        height, width = spec["size"]
        x = [_random(torch, (1, 3, height, width), seed) for seed in (0, 1)]

        def infer():
            with torch.no_grad(), _autocast(torch, spec["precision"]):
                outputs, _ = model(x)
                ensemble = F.interpolate(outputs[-1].float(), size=(height, width), mode="bilinear")
                return ensemble.argmax(1)

        return infer

    model.train()
    for layer in model.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.eval()  # the official --freeze-bn
    batch, (height, width) = spec["batch"], spec["size"]
    x = [_random(torch, (batch, 3, height, width), seed) for seed in (0, 1)]
    labels = torch.from_numpy(np.random.default_rng(1).integers(0, 40, (batch, height, width)))
    encoder, decoder, slim = [], [], []
    for name, param in model.named_parameters():
        is_encoder = any(part in name for part in ("conv1", "bn1", "layer"))
        (encoder if is_encoder else decoder).append(param)
        if name.endswith("weight") and "bn2" in name:  # half of each modality's scales, alternating
            half = len(param) // 2
            slim.append(param[:half] if len(slim) % 2 == 0 else param[half:])
    optimizers = [
        torch.optim.SGD(encoder, lr=5e-4, momentum=0.9, weight_decay=1e-5),
        torch.optim.SGD(decoder, lr=3e-3, momentum=0.9, weight_decay=1e-5),
    ]
    nll = torch.nn.NLLLoss(ignore_index=255)

    def train_step():
        with _autocast(torch, spec["precision"]):
            outputs, _ = model(x)
            loss = 0
            for output in outputs:
                output = F.interpolate(output.float(), size=(height, width), mode="bilinear")
                loss = loss + nll(F.log_softmax(output, dim=1), labels)
                loss = loss + 2e-4 * sum(p.abs().sum() for p in slim)
        for optimizer in optimizers:
            optimizer.zero_grad()
        loss.backward()
        for optimizer in optimizers:
            optimizer.step()
        return loss.item()

    return train_step


def generator(torch, root, spec):
    config_folder = str(check_checkout(root) / TRANSLATION)
    sys.path.insert(0, config_folder)
    config = importlib.import_module("config")
    config.num_parallel, config.use_exchange, config.insnorm_threshold = 2, True, 1e-2
    module = _import_models(root, TRANSLATION)
    model = module.Generator(3, 64, 3)
    model.normal_weight_init(mean=0.0, std=0.02)
    x = [_random(torch, (1, 3, 256, 256), seed) for seed in (0, 1)]
    if spec["kind"] == "generator inference":
        model.eval()

        def infer():
            with torch.no_grad(), _autocast(torch, spec["precision"]):
                outputs, _ = model(x)
                return outputs[-1].float()

        return infer

    model.train()
    target = torch.from_numpy(np.random.default_rng(2).uniform(-1, 1, (1, 3, 256, 256)).astype(np.float32))
    slim = []
    for name, param in model.named_parameters():
        if name.endswith("weight") and "insnorm_conv" in name:
            half = len(param) // 2
            slim.append(param[:half] if len(slim) % 2 == 0 else param[half:])

    def forward_backward():
        model.zero_grad()
        with _autocast(torch, spec["precision"]):
            outputs, _ = model(x)
            loss = sum((out.float() - target).abs().mean() for out in outputs)
            loss = loss + 1e-3 * sum(p.abs().sum() for p in slim)
        loss.backward()
        return loss.item()

    return forward_backward


BUILDERS = {
    "segmenter train": segmenter,
    "SavedModel inference": segmenter,
    "generator fwd+bwd": generator,
    "generator inference": generator,
}


def build(root, spec):
    """The official code's function to time for `spec` (a row of `bench_models.ROWS`)."""
    import torch

    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)
    return BUILDERS[spec["kind"]](torch, root, spec)
