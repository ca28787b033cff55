"""CEN PSPNet-152 on NYUDv2 RGB-D, 40 classes: the paper's best segmenter (Table 3).

The paper gives no PSPNet settings beyond "Ours-PSPNet, ResNet152" and the
official code has no PSPNet, so this recipe takes:
- from the PSPNet paper (Zhao et al. 2017): dilated stages 3-4 (output
  stride 8), pyramid bins 1/2/3/6, head widths 512 (main) and 256
  (auxiliary, on layer3, loss weight 0.4), channel dropout 0.1;
- from the official CEN RefineNet-152 training: the data pipeline, the
  3 x 150 epochs, the two SGD groups (encoder 5e-4, decoder 3e-3: PSPNet's
  head learns 10x the backbone's rate, CEN's decoder 6x), lambda 2e-4,
  theta 2e-2, batch 6, frozen encoder BatchNorm statistics. The decoder's
  norms learn their statistics (they start with none from ImageNet).

Start the encoder from ImageNet: --set model.backbone_weights=PATH (a torchvision ResNet-152).
"""

from cenkeras.recipes.nyudv2_refinenet152 import recipe as refinenet152_recipe


def pspnet_from(experiment):
    """The PSPNet settings of the paper's Table 3 on a RefineNet recipe (same data and schedule)."""
    experiment.model.architecture = "pspnet"
    experiment.model.decoder_width = 256  # PSPNet's auxiliary head; the main head has 512
    experiment.model.decoder.pyramid_bins = (1, 2, 3, 6)  # PSPNet's pyramid
    experiment.model.decoder.auxiliary_weight = 0.4  # PSPNet's auxiliary loss weight
    experiment.model.dropout = 0.1  # PSPNet's Dropout2d(0.1) before each classifier
    return experiment


def recipe():
    experiment = pspnet_from(refinenet152_recipe())
    experiment.name = "nyudv2_pspnet152"
    experiment.description = __doc__
    return experiment
