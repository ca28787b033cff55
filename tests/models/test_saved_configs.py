"""Saved networks: the configs `.keras` files of an earlier cenkeras hold rebuild today's networks.

`fixtures/saved_configs_8eebe17.json` holds what `model.keras` files written at commit 8eebe17
say of the networks below (`keras.saving.serialize_keras_object`), when every network took its
shared options (exchange, fusion, sparsity, ...) as arguments of its own. Each must rebuild, in
safe mode, the network today's builders make from the same options, option for option.
"""

import json
from pathlib import Path

import keras
import pytest

from cenkeras.layers import ExchangeConfig, FusionConfig, ModalityPreprocessor
from cenkeras.models import build_pspnet, build_refinenet, build_unet_generator

FIXTURE = Path(__file__).parent / "fixtures" / "saved_configs_8eebe17.json"
TINY = {"stage_blocks": (1, 1, 1, 1), "base_width": 4, "decoder_width": 8}
RGBD = {"rgb": ModalityPreprocessor("rgb"), "depth": ModalityPreprocessor("depth", scale=1e-3)}

# Each with options away from their defaults, so a dropped or renamed one shows.
BUILDERS = {
    "refinenet": lambda: build_refinenet(
        50,
        5,
        ["rgb", "depth"],
        exchange=ExchangeConfig(threshold=3e-2, scope="part", rule="fixed", portion=0.2),
        sparsity=6e-4,
        dropout=0.2,
        stack_streams=True,
        affine_inference=False,
        freeze_norm_statistics=True,
        preprocessing=RGBD,
        **TINY,
    ),
    "pspnet": lambda: build_pspnet(
        50,
        7,
        ["rgb", "depth"],
        fusion=FusionConfig("average", "early"),
        share_norms=True,
        dropout=0.1,
        ensemble="concat",
        pyramid_bins=(1, 3),
        auxiliary_weight=0.25,
        **TINY,
    ),
    "unet": lambda: build_unet_generator(
        ["shade", "texture"],
        exchange=ExchangeConfig(threshold=2e-2, sparsity_scope="all"),
        sparsity=1e-3,
        decoder_norms="shared",
        share_convs=False,
        filters=4,
        levels=5,
        output_channels=1,
        norm_scale_init="uniform",
    ),
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_configs_saved_earlier_rebuild_todays_networks(name):
    saved = json.loads(FIXTURE.read_text())["configs"][name]
    loaded = keras.saving.deserialize_keras_object(saved, safe_mode=True)
    today = BUILDERS[name]()
    assert type(loaded) is type(today)
    names_apart = [{**model.get_config(), "name": None} for model in (loaded, today)]  # names are unique per process
    assert names_apart[0] == names_apart[1]
    assert [v.path for v in loaded.weights] == [v.path for v in today.weights]
