"""Pictures of the exchange: which channels fall under the threshold, and what they carry."""

from pathlib import Path

import keras
import numpy as np

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402


def exchange_rows(model):
    """One row per exchange layer and modality: counts and fractions of channels under the threshold."""
    rows = []
    for layer_name, per_modality in model.exchange_statistics().items():
        for modality, stats in zip(model.modalities, per_modality):
            rows.append(
                {
                    "layer": layer_name,
                    "modality": modality,
                    "channels": stats["channels"],
                    "below": stats["below_threshold"],
                    "fraction": stats["below_threshold"] / stats["channels"],
                    "in_part": stats["below_in_part"],
                    "outside_part": stats["below_outside_part"],
                    "exchanged": stats["exchanged"],
                }
            )
    return rows


def format_exchange_table(rows):
    lines = [
        "| layer | modality | below threshold | fraction | in part | outside part | exchanged |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['layer']} | {r['modality']} | {r['below']}/{r['channels']} | {r['fraction']:.3f} | "
            f"{r['in_part']} | {r['outside_part']} | {r['exchanged']} |"
        )
    return "\n".join(lines)


def plot_exchange_fractions(model, path):
    """Bar chart: per exchange layer, the fraction of each modality's channels under the threshold."""
    rows = exchange_rows(model)
    layers = list(dict.fromkeys(r["layer"] for r in rows))
    modalities = list(model.modalities)
    width = 0.8 / len(modalities)
    figure, axis = plt.subplots(figsize=(max(6, 0.35 * len(layers) + 2), 3.5))
    positions = np.arange(len(layers))
    for m, modality in enumerate(modalities):
        values = [
            next(r["fraction"] for r in rows if r["layer"] == name and r["modality"] == modality) for name in layers
        ]
        axis.bar(positions + m * width, values, width, label=modality)
    axis.set_xticks(positions + width * (len(modalities) - 1) / 2)
    axis.set_xticklabels(layers, rotation=90, fontsize=7)
    axis.set_ylabel("share of channels\nunder the threshold", fontsize=9)
    # Fitted to the data: shares are often a few percent, invisible on a 0-1 axis.
    highest = max((r["fraction"] for r in rows), default=0.0)
    axis.set_ylim(0, min(1.0, highest * 1.15) if highest > 0 else 0.01)
    axis.yaxis.set_major_formatter(
        plt.FuncFormatter(lambda value, _: f"{100 * value:.0f}%" if highest >= 0.1 else f"{100 * value:.1f}%")
    )
    if highest == 0:
        axis.text(
            0.5, 0.5, "no channel under the threshold: nothing is exchanged", transform=axis.transAxes, ha="center"
        )
    axis.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(modalities), frameon=False)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return Path(path)


def exchange_feature_maps(model, inputs, layer_name):
    """For a 2-modality exchange layer: mean feature maps of channel groups (the paper's Figure 3).

    Returns `{stream: {"received": map, "given": map, "kept": map}}`: per stream,
    the mean over the channels it takes from the other modality, the channels
    the other modality takes from it, and the channels both keep. Maps are
    (H, W) arrays of the first sample; None for a group without channels.
    """
    layer = model.get_layer(layer_name)
    if len(model.modalities) != 2:
        raise ValueError("feature-map figures are defined for two modalities.")
    probe = keras.Model(model.inputs, layer.output)
    outputs = probe(inputs, training=False)
    if not isinstance(outputs, (list, tuple)):  # streams stacked along the batch axis
        outputs = np.split(keras.ops.convert_to_numpy(outputs), len(model.modalities), axis=0)
    outputs = [keras.ops.convert_to_numpy(o)[0] for o in outputs]
    masks = [keras.ops.convert_to_numpy(m) for m in layer.exchange_masks()]
    kept = ~masks[0] & ~masks[1]
    maps = {}
    for m, name in enumerate(model.modalities):
        other = 1 - m
        groups = {"received": masks[m], "given": masks[other], "kept": kept}
        # None where the group has no channel (nothing exchanged at this layer, say).
        maps[name] = {group: outputs[m][..., mask].mean(-1) if mask.any() else None for group, mask in groups.items()}
    return maps


def plot_feature_maps(maps, path, title="", images=None):
    """The paper's Figure 3 view: per stream, its input (`images`: `{stream: (H, W, 3) uint8}`,
    optional) beside the mean feature maps of the channels it receives, gives and keeps; a group
    without channels says so instead of showing an empty panel."""
    names = list(maps)
    groups = ["received", "given", "kept"]
    columns = (["input"] if images else []) + groups
    figure, axes = plt.subplots(len(names), len(columns), figsize=(3 * len(columns), 2.6 * len(names)))
    axes = np.atleast_2d(axes)
    for row, name in enumerate(names):
        for col, group in enumerate(columns):
            axis = axes[row, col]
            axis.axis("off")
            if group == "input":
                axis.imshow(images[name])
                axis.set_title(f"{name} input", fontsize=9)
                continue
            axis.set_title(f"{name}: {group}", fontsize=9)
            if maps[name][group] is None:
                empty = (
                    "no channel kept by both\n(every one is exchanged)"
                    if group == "kept"
                    else "no channel\n(nothing exchanged here)"
                )
                axis.text(0.5, 0.5, empty, ha="center", va="center", fontsize=8)
                continue
            axis.imshow(maps[name][group], cmap="viridis")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return Path(path)
