"""Metrics: confusion-matrix segmentation scores; L1/PSNR/SSIM and FID/KID for translation."""

from cenkeras.metrics.fid import frechet_distance, kernel_inception_distance, polynomial_mmd
from cenkeras.metrics.image_quality import l1_error, psnr, ssim
from cenkeras.metrics.segmentation import ConfusionMatrix, scores_from_confusion

__all__ = [
    "ConfusionMatrix",
    "frechet_distance",
    "kernel_inception_distance",
    "l1_error",
    "polynomial_mmd",
    "psnr",
    "scores_from_confusion",
    "ssim",
]
