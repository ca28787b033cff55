"""Procedural multi-domain scenes for image translation: the embedded default of that task.

For one view of a scene (floor, back wall, textured boxes and balls under a
directional light) the renderer gives, like Taskonomy does for real scenes:

- `depth`: z-depth, encoded to 8 bits on a log scale (as Taskonomy depth is decoded);
- `normal`: surface normals, (n + 1) / 2 as RGB;
- `shade`: Lambertian shading from the light (grayscale, 3 channels);
- `texture`: the albedo (surface colour without lighting);
- `edges`: edges of the albedo (texture edges);
- `rgb`: the image, albedo x shading.

So `shade + texture -> rgb` is exactly learnable, and each input alone is
not: shading lacks colour, texture lacks light. Deterministic from a seed,
NumPy only.
"""

import numpy as np

from cenkeras.data.synthetic import _random_colour, _texture

DOMAINS = ("shade", "texture", "depth", "normal", "edges", "rgb")
MAX_DEPTH = 12.0  # metres, the top of the 8-bit log depth code


def _box(dirs, low, high):
    """Ray-box distances (inf where missed) and the normal of the face hit first."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = low[None, None, :] / dirs
        t2 = high[None, None, :] / dirs
    t_near = np.fmin(t1, t2)
    t_enter = np.nanmax(t_near, axis=-1)
    t_exit = np.nanmin(np.fmax(t1, t2), axis=-1)
    hit = (t_enter <= t_exit) & (t_enter > 0)
    axis = np.nanargmax(np.where(np.isnan(t_near), -np.inf, t_near), axis=-1)
    normal = np.zeros(dirs.shape)
    sign = -np.sign(np.take_along_axis(dirs, axis[..., None], axis=-1)[..., 0])
    np.put_along_axis(normal, axis[..., None], sign[..., None], axis=-1)
    return np.where(hit, t_enter, np.inf), normal


def render_translation_scene(seed, size=64):
    """All domains of one scene: `{domain: uint8 (size, size, 3)}`."""
    rng = np.random.default_rng(seed)
    focal = size * rng.uniform(0.8, 1.1)
    v, u = np.mgrid[0:size, 0:size].astype(np.float64)
    dirs = np.stack([(u - size / 2) / focal, -(v - size / 2) / focal, np.ones_like(u)], axis=-1)
    camera_height = rng.uniform(1.0, 1.5)
    wall = rng.uniform(4.0, 6.0)

    t = np.full((size, size), np.inf)
    normal = np.zeros((size, size, 3))
    albedo = np.zeros((size, size, 3))

    def place(candidate, surface_normal, surface_albedo):
        nonlocal t
        closer = candidate < t
        t = np.where(closer, candidate, t)
        normal[closer] = surface_normal[closer] if surface_normal.ndim == 3 else surface_normal
        albedo[closer] = surface_albedo[closer]

    with np.errstate(divide="ignore", invalid="ignore"):
        floor_t = np.where(dirs[..., 1] < 0, -camera_height / dirs[..., 1], np.inf)
        wall_t = wall / dirs[..., 2]
    floor_points = dirs * np.where(np.isfinite(floor_t), floor_t, 0)[..., None]
    wall_points = dirs * wall_t[..., None]
    place(
        wall_t,
        np.array([0.0, 0.0, -1.0]),
        _texture(wall_points[..., 0] * 2, wall_points[..., 1] * 2, rng, _random_colour(rng, 0.5)),
    )
    place(
        floor_t,
        np.array([0.0, 1.0, 0.0]),
        _texture(floor_points[..., 0] * 2, floor_points[..., 2] * 2, rng, _random_colour(rng, 0.5)),
    )

    for _ in range(rng.integers(1, 4)):
        low = np.array([rng.uniform(-1.5, 0.8), -camera_height, rng.uniform(2.0, wall - 0.8)])
        extent = rng.uniform([0.3, 0.3, 0.3], [0.9, 1.2, 0.8])
        candidate, face = _box(dirs, low, low + extent)
        points = dirs * np.where(np.isfinite(candidate), candidate, 0)[..., None]
        pattern = _texture(points[..., 0] * 6 + points[..., 2] * 6, points[..., 1] * 6, rng, _random_colour(rng, 0.9))
        place(candidate, face, pattern)

    for _ in range(rng.integers(1, 3)):
        radius = rng.uniform(0.2, 0.5)
        centre = np.array([rng.uniform(-1.2, 1.2), -camera_height + radius, rng.uniform(2.0, wall - 0.8)])
        b = dirs @ centre
        disc = b * b - np.sum(dirs * dirs, -1) * (centre @ centre - radius**2)
        with np.errstate(invalid="ignore"):
            candidate = np.where(disc > 0, (b - np.sqrt(disc)) / np.sum(dirs * dirs, -1), np.inf)
        candidate = np.where(candidate > 0, candidate, np.inf)
        points = dirs * np.where(np.isfinite(candidate), candidate, 0)[..., None]
        sphere_normal = (points - centre) / radius
        stripes = 0.7 + 0.3 * np.sign(np.sin(8 * np.arctan2(sphere_normal[..., 0], sphere_normal[..., 2])))
        colour = _random_colour(rng, 0.9)
        place(candidate, sphere_normal, np.clip(colour[None, None, :] * stripes[..., None], 0, 1))

    light = np.array([rng.uniform(-0.8, 0.8), rng.uniform(0.5, 1.0), -rng.uniform(0.2, 1.0)])
    light /= np.linalg.norm(light)
    shading = 0.25 + 0.75 * np.clip(normal @ light, 0.0, 1.0)
    rgb = albedo * shading[..., None]

    depth = np.clip(t * dirs[..., 2], 0, MAX_DEPTH)
    depth_code = np.log1p(depth) / np.log1p(MAX_DEPTH)
    gray = albedo.mean(-1)
    edges = np.hypot(np.diff(gray, axis=0, append=gray[-1:]), np.diff(gray, axis=1, append=gray[:, -1:]))
    edges = np.clip(edges * 4.0, 0, 1)

    def to_uint8(array):
        array = array if array.ndim == 3 else np.repeat(array[..., None], 3, axis=-1)
        return np.clip(np.round(array * 255.0), 0, 255).astype(np.uint8)

    return {
        "shade": to_uint8(shading),
        "texture": to_uint8(albedo),
        "depth": to_uint8(depth_code),
        "normal": to_uint8((normal + 1.0) / 2.0),
        "edges": to_uint8(edges),
        "rgb": to_uint8(rgb),
    }
