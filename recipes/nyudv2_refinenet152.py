"""CEN RefineNet-152 on NYUDv2 RGB-D, 40 classes: 3 x 150 epochs as the official code advises."""

from cenkeras.recipes.nyudv2_refinenet101 import recipe as refinenet101_recipe


def recipe():
    experiment = refinenet101_recipe()
    experiment.name = "nyudv2_refinenet152"
    experiment.description = __doc__
    experiment.model.depth = 152
    experiment.train.epochs = experiment.train.resnet152_epochs  # official comment: [150] * 3 for ResNet-152
    return experiment
