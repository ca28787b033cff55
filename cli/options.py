"""What several commands share: option help and the parsing of NAME=PATH inputs."""

import click

INCEPTION_WEIGHTS_HELP = (
    "Translation: the FID / KID network's weights: pytorch-fid's pt_inception-2015-12-05-*.pth "
    "(the paper's network; needs the torch extra) or a Keras InceptionV3 no-top .h5."
)


def parse_inputs(values):
    """`{name: path}` of repeated `--input NAME=PATH` values."""
    inputs = {}
    for value in values:
        if "=" not in value:
            raise click.UsageError(f"--input {value!r} must look like DOMAIN=PATH (e.g. shade=a.png).")
        name, path = value.split("=", 1)
        inputs[name.strip()] = path
    return inputs
