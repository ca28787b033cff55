"""Functional builders of the CEN networks."""

from cenkeras.models.base import MultimodalModel
from cenkeras.models.patchgan import PatchGANDiscriminator, build_patchgan_discriminator
from cenkeras.models.refinenet import CENRefineNet, build_refinenet, tiny_refinenet_options
from cenkeras.models.unet import CENUNetGenerator, build_unet_generator

__all__ = [
    "CENRefineNet",
    "CENUNetGenerator",
    "MultimodalModel",
    "PatchGANDiscriminator",
    "build_patchgan_discriminator",
    "build_refinenet",
    "build_unet_generator",
    "tiny_refinenet_options",
]
