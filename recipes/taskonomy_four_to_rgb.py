"""CEN pix2pix on Taskonomy: shade + texture + depth + normal -> RGB (the paper's Table 5, M = 4)."""

from cenkeras.recipes.taskonomy_shade_texture_to_rgb import taskonomy_recipe


def recipe():
    return taskonomy_recipe(
        "taskonomy_four_to_rgb",
        __doc__,
        ("reshading", "edge_texture", "depth_euclidean", "normal", "rgb"),
    )
