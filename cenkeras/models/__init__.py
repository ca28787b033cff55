"""Functional builders of the CEN networks: the multimodal ResNet encoders, the RefineNet and
PSPNet segmenters, the U-Net generator and the PatchGAN discriminator.

May import: layers and utils only.
"""

from cenkeras.models.base import MultimodalModel
from cenkeras.models.patchgan import PatchGANDiscriminator, build_patchgan_discriminator
from cenkeras.models.options import NetworkOptions
from cenkeras.models.pspnet import CENPSPNet, build_pspnet
from cenkeras.models.refinenet import CENRefineNet, build_refinenet
from cenkeras.models.segmenter import tiny_options
from cenkeras.models.unet import CENUNetGenerator, build_unet_generator

__all__ = [
    "CENPSPNet",
    "CENRefineNet",
    "CENUNetGenerator",
    "MultimodalModel",
    "NetworkOptions",
    "PatchGANDiscriminator",
    "build_patchgan_discriminator",
    "build_pspnet",
    "build_refinenet",
    "build_unet_generator",
    "tiny_options",
]
