"""CEN PSPNet-152 on SUN RGB-D, 37 classes: the paper's best segmenter (Table 3).

The PSPNet settings are those of `nyudv2_pspnet152` (see there for what the
paper leaves open); data and schedule are `sunrgbd_refinenet101`'s (the
paper's 3 x 20 epochs) on a ResNet-152.
"""

from cenkeras.recipes.nyudv2_pspnet152 import pspnet_from
from cenkeras.recipes.sunrgbd_refinenet101 import recipe as sunrgbd_recipe


def recipe():
    experiment = pspnet_from(sunrgbd_recipe())
    experiment.name = "sunrgbd_pspnet152"
    experiment.description = __doc__
    experiment.model.depth = 152
    return experiment
