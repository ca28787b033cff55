"""The shared-convolution multimodal ResNet encoder (bottleneck ResNet-50/101/152)."""

import keras

STAGE_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
EXPANSION = 4
# Where the encoder can fuse its streams: after the stem and after every stage.
ENCODER_POINTS = ("stem", "layer1", "layer2", "layer3", "layer4")


def stage_blocks_for(depth, stage_blocks=None):
    """Blocks per stage: explicit `stage_blocks`, else the standard ones for `depth`."""
    if stage_blocks is not None:
        stage_blocks = tuple(int(b) for b in stage_blocks)
        if len(stage_blocks) != 4 or min(stage_blocks) < 1:
            raise ValueError(f"stage_blocks must be 4 integers >= 1, got {stage_blocks}.")
        return stage_blocks
    if depth not in STAGE_BLOCKS:
        raise ValueError(f"Unsupported ResNet depth {depth!r}; expected one of {sorted(STAGE_BLOCKS)}.")
    return STAGE_BLOCKS[depth]


def bottleneck(streams, xs, name, planes, stride, downsample, dilation=1, exchanges=True):
    """torchvision-style bottleneck (stride on the 3x3 conv); exchange after `bn2` if `exchanges`."""
    out = streams.conv(xs, f"{name}.conv1", planes, 1)
    out = streams.relu(streams.norm(out, f"{name}.bn1"))
    out = streams.conv(out, f"{name}.conv2", planes, 3, stride=stride, padding=dilation, dilation=dilation)
    norm = streams.exchange_norm if exchanges else streams.norm
    out = streams.relu(norm(out, f"{name}.bn2"))
    out = streams.conv(out, f"{name}.conv3", planes * EXPANSION, 1)
    out = streams.norm(out, f"{name}.bn3")
    residual = xs
    if downsample:
        residual = streams.conv(xs, f"{name}.downsample.0", planes * EXPANSION, 1, stride=stride)
        residual = streams.norm(residual, f"{name}.downsample.1")
    return streams.relu(streams.add(out, residual))


def resnet_encoder(streams, xs, stage_blocks, base_width=64, fuse=None, dilations=(1, 1, 1, 1)):
    """Stem and four bottleneck stages on M streams.

    Returns the four stage outputs (`layer1` .. `layer4`), each
    `StreamTensors`, at strides 4, 8, 16 and 32. A stage whose entry in
    `dilations` is above 1 keeps its input's resolution and dilates every
    3x3 convolution of its blocks by that factor instead (PSPNet's
    `(1, 1, 2, 4)`: strides 4, 8, 8, 8), as the PSPNet authors' code does;
    the weights are those of the plain ResNet. `fuse(xs, point)`, if
    given, runs after the stem ("stem") and after every stage ("layer1" ..
    "layer4") and returns the streams to go on with (fusion baselines).
    """
    fuse = fuse or (lambda streams_at, point: streams_at)
    x = streams.conv(xs, "conv1", base_width, 7, stride=2, padding=3)
    x = streams.relu(streams.norm(x, "bn1"))
    # Inputs are post-ReLU (>= 0), so zero padding equals PyTorch's -inf padding here.
    x = streams.map(keras.layers.ZeroPadding2D(1, name="maxpool.pad"), x)
    x = streams.map(keras.layers.MaxPooling2D(3, strides=2, name="maxpool"), x)
    x = fuse(x, "stem")
    in_channels = base_width
    stages = []
    for index, blocks in enumerate(stage_blocks):
        planes = base_width * 2**index
        dilation = int(dilations[index])
        stride = 1 if index == 0 or dilation > 1 else 2
        for block in range(blocks):
            block_stride = stride if block == 0 else 1
            downsample = block == 0 and (block_stride != 1 or in_channels != planes * EXPANSION)
            exchanges = streams.exchange.exchanges_at(block)
            name = f"layer{index + 1}.{block}"
            x = bottleneck(streams, x, name, planes, block_stride, downsample, dilation, exchanges)
            in_channels = planes * EXPANSION
        x = fuse(x, f"layer{index + 1}")
        stages.append(x)
    return stages
