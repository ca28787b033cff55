"""CEN pix2pix on Taskonomy: depth (depth_euclidean) + surface normal -> RGB, official settings."""

from cenkeras.recipes.taskonomy_shade_texture_to_rgb import taskonomy_recipe


def recipe():
    return taskonomy_recipe("taskonomy_depth_normal_to_rgb", __doc__, ("depth_euclidean", "normal", "rgb"))
