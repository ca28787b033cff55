"""Procedurally rendered RGB-D indoor scenes with labels: the embedded default dataset.

Each scene is ray-cast from a pinhole camera into a box-shaped room: floor,
walls, ceiling, cuboid objects standing on the floor and balls, plus flat
posters on the walls. The two modalities are complementary the way real
RGB-D is:

- posters are flat: their depth is the wall's, only colour tells them apart;
- boxes are painted with exactly what the camera would see behind them
  (perfect camouflage): only geometry tells them apart;
- balls and the room surfaces are visible in both.

Depth is stored like NYUDv2 (uint16, metres x 5000) with multiplicative
noise and holes (value 0); RGB gets sensor noise. Everything is generated
deterministically from a seed, with NumPy only.
"""

import numpy as np

CLASS_NAMES = ("floor", "wall", "ceiling", "poster", "box", "ball")
NUM_CLASSES = len(CLASS_NAMES)
FLOOR, WALL, CEILING, POSTER, BOX, BALL = range(NUM_CLASSES)
DEPTH_UNITS_PER_METRE = 5000.0


def _texture(u, v, rng, base):
    """A smooth colour pattern on surface coordinates (u, v): base colour x stripes x blobs."""
    frequency = rng.uniform(1.5, 4.0, size=2)
    phase = rng.uniform(0, 2 * np.pi, size=3)
    pattern = 0.5 + 0.25 * np.sin(frequency[0] * u + phase[0]) * np.cos(frequency[1] * v + phase[1])
    pattern += 0.1 * np.sin(3.1 * u + 2.3 * v + phase[2])
    return np.clip(base[None, None, :] * (0.75 + 0.5 * pattern[..., None]), 0.0, 1.0)


def _random_colour(rng, saturation=0.6):
    hue = rng.uniform(0, 1)
    colour = np.array([hue, (hue + 1 / 3) % 1, (hue + 2 / 3) % 1])
    colour = 0.5 + 0.5 * np.cos(2 * np.pi * colour)
    grey = colour.mean()
    return np.clip(grey + saturation * (colour - grey), 0.05, 0.95) * rng.uniform(0.6, 1.0)


def _intersect_box(origin_free_dirs, low, high):
    """Slab test for rays from the origin: the distance t along each ray (inf where missed)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = low[None, None, :] / origin_free_dirs
        t2 = high[None, None, :] / origin_free_dirs
    t_near = np.minimum(t1, t2)
    t_far = np.maximum(t1, t2)
    t_enter = np.nanmax(t_near, axis=-1)
    t_exit = np.nanmin(t_far, axis=-1)
    hit = (t_enter <= t_exit) & (t_enter > 0)
    return np.where(hit, t_enter, np.inf)


def render_scene(seed, height=96, width=128, noise=True, with_boxes=True):
    """Render one scene. Returns `{"rgb": uint8 (H, W, 3), "depth": uint16 (H, W), "mask": uint8 (H, W)}`.

    `noise=False` gives clean images and depth without holes, and
    `with_boxes=False` the same scene without its boxes; both exist to check
    the scenes' properties (the boxes leave the colour image unchanged).
    """
    # One random stream per part, so leaving a part out does not change the others.
    rng, box_rng, noise_rng = np.random.default_rng(seed).spawn(3)
    focal = width * rng.uniform(0.55, 0.7)
    cy, cx = height / 2 + rng.uniform(-3, 3), width / 2 + rng.uniform(-3, 3)
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    dirs = np.stack([(u - cx) / focal, -(v - cy) / focal, np.ones_like(u)], axis=-1)

    camera_height = rng.uniform(1.2, 1.6)
    room_depth = rng.uniform(4.5, 7.0)
    half_width = rng.uniform(2.0, 3.0)
    ceiling = rng.uniform(2.6, 3.0) - camera_height

    t = np.full((height, width), np.inf)
    label = np.zeros((height, width), np.uint8)
    normal = np.zeros((height, width, 3))

    def take(candidate, cls, surface_normal):
        nonlocal t
        closer = candidate < t
        t = np.where(closer, candidate, t)
        label[closer] = cls
        normal[closer] = surface_normal if np.ndim(surface_normal) == 1 else surface_normal[closer]

    with np.errstate(divide="ignore", invalid="ignore"):
        dy, dx, dz = dirs[..., 1], dirs[..., 0], dirs[..., 2]
        take(np.where(dy < 0, -camera_height / dy, np.inf), FLOOR, np.array([0.0, 1.0, 0.0]))
        take(np.where(dy > 0, ceiling / dy, np.inf), CEILING, np.array([0.0, -1.0, 0.0]))
        take(np.where(dz > 0, room_depth / dz, np.inf), WALL, np.array([0.0, 0.0, -1.0]))
        take(np.where(dx > 0, half_width / dx, np.inf), WALL, np.array([-1.0, 0.0, 0.0]))
        take(np.where(dx < 0, -half_width / dx, np.inf), WALL, np.array([1.0, 0.0, 0.0]))
    room_label = label.copy()
    points = dirs * t[..., None]

    # Room albedo: one textured colour for the walls, one for the floor and ceiling.
    wall_colour, floor_colour, ceiling_colour = (_random_colour(rng, 0.3) for _ in range(3))
    surface_u = np.where(np.abs(points[..., 2] - room_depth) < 1e-6, points[..., 0], points[..., 2])
    wall_albedo = _texture(surface_u, points[..., 1], rng, wall_colour)
    floor_albedo = _texture(points[..., 0], points[..., 2], rng, floor_colour)
    albedo = np.where((room_label == WALL)[..., None], wall_albedo, floor_albedo)
    albedo = np.where((room_label == CEILING)[..., None], ceiling_colour[None, None, :], albedo)

    # Posters: flat rectangles on the back wall (depth unchanged), distinct colours and stripes.
    for _ in range(rng.integers(1, 4)):
        px, py = rng.uniform(-half_width + 0.4, half_width - 1.2), rng.uniform(-0.2, ceiling - 0.6)
        pw, ph = rng.uniform(0.5, 1.2), rng.uniform(0.4, 0.9)
        on_back = (room_label == WALL) & (np.abs(points[..., 2] - room_depth) < 1e-6)
        inside = on_back & (points[..., 0] > px) & (points[..., 0] < px + pw)
        inside &= (points[..., 1] > py) & (points[..., 1] < py + ph)
        colour = _random_colour(rng, 0.9)
        stripes = 0.8 + 0.2 * np.sign(np.sin(points[..., 0] * rng.uniform(8, 20)))
        albedo[inside] = np.clip(colour[None, :] * stripes[inside][:, None], 0, 1)
        label[inside] = POSTER

    light = np.array([rng.uniform(-0.5, 0.5), 1.0, -rng.uniform(0.3, 1.0)])
    light /= np.linalg.norm(light)

    def shade(albedo, normals):
        return albedo * (0.55 + 0.45 * np.clip(normals @ light, 0.0, 1.0))[..., None]

    image = shade(albedo, normal)

    # Boxes on the floor, painted with exactly what the camera sees behind them.
    for _ in range(box_rng.integers(1, 4) if with_boxes else 0):
        bx = box_rng.uniform(-half_width + 0.3, half_width - 1.0)
        bz = box_rng.uniform(2.0, room_depth - 0.8)
        size = box_rng.uniform([0.4, 0.4, 0.4], [1.0, 1.2, 0.8])
        low = np.array([bx, -camera_height, bz])
        candidate = _intersect_box(dirs, low, low + size)
        closer = candidate < t
        t = np.where(closer, candidate, t)
        label[closer] = BOX  # the image keeps the background's colour there

    # Balls: coloured, shaded spheres, visible in colour and in depth.
    for _ in range(rng.integers(0, 3)):
        radius = rng.uniform(0.2, 0.45)
        centre = np.array(
            [
                rng.uniform(-half_width + 0.5, half_width - 0.5),
                -camera_height + radius,
                rng.uniform(2.0, room_depth - 0.8),
            ]
        )
        b = dirs @ centre
        c = centre @ centre - radius**2
        a = np.sum(dirs * dirs, axis=-1)
        disc = b * b - a * c
        with np.errstate(invalid="ignore"):
            candidate = np.where(disc > 0, (b - np.sqrt(disc)) / a, np.inf)
        candidate = np.where(candidate > 0, candidate, np.inf)
        closer = candidate < t
        t = np.where(closer, candidate, t)
        label[closer] = BALL
        normals = (dirs * np.where(closer, candidate, 0.0)[..., None] - centre) / radius
        colour = np.broadcast_to(_random_colour(rng, 0.9), image.shape)
        image[closer] = shade(colour, normals)[closer]

    if noise:
        image = image + noise_rng.normal(0, 0.02, image.shape)
    rgb = np.clip(image * 255.0, 0, 255).astype(np.uint8)

    z = t * dirs[..., 2]
    holes = np.zeros((height, width), bool)
    if noise:
        z = z * (1.0 + noise_rng.normal(0, 0.01, z.shape))
        for _ in range(noise_rng.integers(1, 4)):  # blobs with no depth reading (reflections, range)
            hy, hx, hr = noise_rng.uniform(0, height), noise_rng.uniform(0, width), noise_rng.uniform(2, 7)
            holes |= (v - hy) ** 2 + (u - hx) ** 2 < hr**2
        holes |= noise_rng.uniform(size=z.shape) < 0.01
    depth = np.clip(np.round(z * DEPTH_UNITS_PER_METRE), 0, 65535).astype(np.uint16)
    depth[holes] = 0
    return {"rgb": rgb, "depth": depth, "mask": label}
