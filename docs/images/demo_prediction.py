"""Draws docs/images/demo_prediction.png: a trained synthetic_rgbd run on held-out scenes.

    cenkeras train synthetic_rgbd --run-dir runs/demo
    python docs/images/demo_prediction.py runs/demo

Per scene: the rgb and depth inputs, then the labels of each output (the rgb
branch, the depth branch, the fused ensemble) and of the ground truth, in the
colours `cenkeras predict` draws, with its legend of the classes present.
"""

import sys
from pathlib import Path

import numpy as np
from PIL import Image

from cenkeras.data.synthetic import CLASS_NAMES, render_scene
from cenkeras.serving.predict import Predictor, colorize, draw_legend, legend_entries, overlay_backdrop
from cenkeras.tasks.run_models import load_run_model

SEEDS = (900_001, 900_007)  # neither training (seeds 0-239) nor validation scenes (1,000,003 on)


def main(run_dir, out=Path(__file__).with_name("demo_prediction.png")):
    _, model = load_run_model(run_dir)
    predictor = Predictor(model)
    rows = []
    for seed in SEEDS:
        scene = render_scene(seed)
        images = {"rgb": scene["rgb"][None], "depth": scene["depth"][None, ..., None]}
        outputs = predictor(images)
        panels = [scene["rgb"], overlay_backdrop({"depth": images["depth"]}, predictor.preprocessors)]
        panels += [colorize(outputs[f"{name}_labels"][0]) for name in ("rgb", "depth", "ensemble")]
        panels.append(colorize(scene["mask"]))
        gap = np.full((scene["rgb"].shape[0], 4, 3), 255, np.uint8)
        row = np.concatenate([x for panel in panels for x in (panel, gap)], axis=1)
        legend = draw_legend(legend_entries(scene["mask"], list(CLASS_NAMES)), row.shape[0])
        rows.append(np.concatenate([row, legend], axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    figure = Image.fromarray(np.concatenate(rows, axis=0))
    figure = figure.resize((figure.width * 2, figure.height * 2), Image.NEAREST)
    figure.save(out)
    print(f"Wrote {out}: columns rgb | depth | rgb branch | depth branch | ensemble | ground truth")


if __name__ == "__main__":
    main(sys.argv[1])
