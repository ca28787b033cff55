"""Segment your own images with a run, an exported SavedModel, a .keras file or another runtime's export.

Writes per sample `<stem>_labels.png` (class ids), `<stem>_color.png` (the
colour-coded mask) and `<stem>_overlay.png` (first image | mask | blend |
a legend of the classes present, named where the model's metadata names
them).
"""

import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from PIL import Image, ImageDraw, ImageFont

from cenkeras.data.modalities import DataError, read_raw
from cenkeras.layers.preprocessing import ModalityPreprocessor

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def color_palette(count=256):
    """The PASCAL-VOC bit-interleaved palette used for NYUDv2's 40 classes (class c -> colour c + 1)."""
    palette = np.zeros((count, 3), np.uint8)
    for index in range(count):
        value, red, green, blue = index, 0, 0, 0
        for bit in range(8):
            red |= ((value >> 0) & 1) << (7 - bit)
            green |= ((value >> 1) & 1) << (7 - bit)
            blue |= ((value >> 2) & 1) << (7 - bit)
            value >>= 3
        palette[index] = (red, green, blue)
    return palette


def colorize(labels, ignore_label=255):
    """Labels (H, W) -> RGB colours; the ignore label is black."""
    palette = color_palette()
    colours = palette[(labels.astype(np.int64) + 1) % 256]
    colours[labels == ignore_label] = 0
    return colours


def read_model_input(path, preprocessor):
    """One raw image file as a model with `preprocessor` takes it: (H, W, C) uint8 or uint16."""
    kind = preprocessor.kind if preprocessor.kind != "domain" else "image"
    raw = read_raw(path, kind, preprocessor.channels)[..., : preprocessor.raw_channels]  # gray: 3 equal channels
    return raw.astype(preprocessor.raw_dtype)


def load_keras_model(path):
    """A `.keras` model loaded in safe mode only: a file that holds code (a Lambda layer's
    bytecode, a class Keras does not know) is refused with a `DataError` naming it, unrun."""
    import cenkeras.models  # noqa: F401 (registers the model classes, which the command does not import at start)

    try:
        return keras.saving.load_model(path, safe_mode=True)
    except (ValueError, TypeError) as error:
        raise DataError(
            f"{path} cannot be loaded in safe mode, which cenkeras always uses: {str(error).splitlines()[0]}"
        ) from None


def legacy_preprocessors(model):
    """Preprocessing of a `.keras` file saved before models kept theirs: guessed from the
    input names (`depth` as 16-bit depth in NYUDv2 units, the others as ImageNet-normalised
    8-bit colour), as earlier versions did. Files written now carry their own."""
    return {name: ModalityPreprocessor("depth" if name == "depth" else "rgb") for name in model.modalities}


class Predictor:
    """Raw images `{modality: (B, H, W, C) uint8/uint16}` -> the serving outputs.

    Built from a segmentation model (a run directory's, as `cenkeras.tasks.run_models`
    loads it), an exported SavedModel folder, a `.keras` file, or an ONNX, LiteRT or
    OpenVINO export (run by its runtime).
    `task="translation"` takes a translation SavedModel or export instead.
    Each says how its inputs are read and preprocessed: the model's own
    preprocessors (`MultimodalModel.preprocessors()`), which a SavedModel's
    metadata signature (an export's cenkeras.json) repeats.
    """

    def __init__(self, model_path, task="segmentation", labels_only=False):
        from cenkeras.serving.export import serving_call

        self.class_names = None  # label i is class_names[i], where the model's metadata says
        if isinstance(model_path, keras.Model):
            self._serve_keras_model(model_path)
            return
        path = Path(model_path)
        if (path / "saved_model.pb").exists():
            loaded = tf.saved_model.load(str(path))
            description = json.loads(loaded.signatures["metadata"]()["cenkeras"].numpy().decode())
            if description.get("task") != task:
                raise DataError(f"{path} is not a {task} model (task {description.get('task')!r}).")
            self.preprocessors = {
                # Exports of earlier versions describe the dtype only: uint16 is depth.
                n: ModalityPreprocessor(**spec["preprocessor"])
                if "preprocessor" in spec
                else ModalityPreprocessor("depth" if spec["dtype"].startswith("uint16") else "rgb")
                for n, spec in description["inputs"].items()
            }
            self.class_names = description.get("class_names")
            self._loaded = loaded  # keeps the signature's variables alive
            # Exports of earlier versions serve the full set only.
            served = description.get("signatures", {"serving_default": list(description["inputs"])})
            self._input_sets = {
                frozenset(names): loaded.signatures[key] for key, names in served.items() if key in loaded.signatures
            }
            # For a caller that wants labels alone, the full set's labels-only signature (exports since
            # 0.1 carry one): no probabilities computed.
            signature = description.get("labels_signature")
            if labels_only and signature in loaded.signatures:
                self._input_sets[frozenset(description["inputs"])] = loaded.signatures[signature]
            self._call = lambda images: serving_call(self._input_sets[frozenset(images)], **images)
            return
        from cenkeras.serving.runtimes import export_input_sets, find_export, open_export

        found = find_export(path)
        if found:
            exported = open_export(found[0])  # the full set's file, whichever file `path` names
            if exported.description.get("task") != task:
                raise DataError(f"{path} is not a {task} model (task {exported.description.get('task')!r}).")
            self.preprocessors = exported.preprocessors
            self.class_names = exported.description.get("class_names")
            self._input_sets = {**export_input_sets(path), frozenset(self.preprocessors): exported}
            self._call = lambda images: self._input_sets[frozenset(images)](images)
            return
        if task != "segmentation":  # a translation run goes through its task (`translate_files`)
            raise DataError(f"{path} is neither a SavedModel folder nor an ONNX, LiteRT or OpenVINO export.")
        if (path / "recipe.json").exists():
            # Its task builds a run's network: `cenkeras.tasks.run_models` loads it and passes the model.
            raise DataError(f"{path} is a run directory: load its model first (cenkeras.tasks.run_models).")
        if not (path.suffix == ".keras" and path.is_file()):
            raise DataError(
                f"{path} is neither a run directory, a SavedModel folder, a .keras file nor an ONNX, LiteRT "
                "or OpenVINO export."
            )
        self._serve_keras_model(load_keras_model(path))

    def _serve_keras_model(self, model):
        from cenkeras.serving.export import SegmentationServing

        module = SegmentationServing(model, model.preprocessors() or legacy_preprocessors(model))
        self.preprocessors = module.preprocessors
        self._input_sets = module.input_sets()
        self._call = lambda images: self._input_sets[frozenset(images)](
            {n: tf.convert_to_tensor(v) for n, v in images.items()}
        )

    def check_inputs(self, names):
        """Raise DataError unless the model serves exactly the inputs `names` (all of its
        modalities, or a subset it was exported to run without the others)."""
        if frozenset(names) in self._input_sets:
            return
        unexpected = [n for n in names if n not in self.preprocessors]
        missing = [n for n in self.preprocessors if n not in names]
        served = [sorted(s) for s in self._input_sets]
        subsets = f"; it runs from these input sets only: {served}" if len(served) > 1 else ""
        raise DataError(
            f"the model takes {list(self.preprocessors)}; missing {missing}, unexpected {unexpected}{subsets}."
        )

    @property
    def kinds(self):
        """`{modality: kind}` of the inputs, in the model's order."""
        return {name: p.kind for name, p in self.preprocessors.items()}

    def read(self, name, path):
        """One raw image of modality `name` with a batch axis, in the dtype and channels the model takes."""
        return read_model_input(path, self.preprocessors[name])[None]

    def __call__(self, images):
        return {k: np.asarray(v) for k, v in self._call(images).items()}


def list_file_paths(path, modality):
    """The images of `modality` a list file names, in order.

    Two forms: one path per line, or the lists `cenkeras prepare` writes
    (`rgb/N.png masks/N.png depth/N.png`), whose column for a modality is the
    one whose paths start with the modality's folder name. A relative path is
    found beside the list file (where `prepare` puts its lists: the dataset
    root), else in the current folder.
    """
    path = Path(path)
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    if not rows:
        raise DataError(f"input {modality}: {path} lists no image.")
    column = 0
    if len(rows[0]) > 1:
        folders = [Path(field).parts[0] if len(Path(field).parts) > 1 else "" for field in rows[0]]
        if modality not in folders:
            raise DataError(
                f"input {modality}: {path} has {len(rows[0])} columns, whose folders are {folders}; none is "
                f"{modality!r} (give one path per line, or a list whose column for it starts with {modality}/)."
            )
        column = folders.index(modality)
    files = []
    for number, row in enumerate(rows, start=1):
        if len(row) <= column:
            raise DataError(f"input {modality}: {path}, line {number} has no column {column + 1}.")
        file = Path(row[column])
        beside = path.parent / file
        files.append(file if file.is_absolute() or not beside.exists() and file.exists() else beside)
    return files


def expand_inputs(inputs):
    """`{modality: file | folder | .txt list}` -> list of `{modality: path}` samples.

    Folders are matched by file name (stem); list files (`list_file_paths`) by line order.
    """
    listings = {}
    for name, value in inputs.items():
        path = Path(value)
        if path.is_dir():
            listings[name] = {p.stem: p for p in sorted(path.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
        elif path.suffix == ".txt" and path.is_file():
            listings[name] = {f"{i:06d}": file for i, file in enumerate(list_file_paths(path, name))}
        elif path.is_file():
            listings[name] = {path.stem: path}
        else:
            raise DataError(f"input {name}: no such file or folder: {path}")
    names = list(listings)
    if all(len(v) == 1 for v in listings.values()):
        return [{n: next(iter(listings[n].values())) for n in names}]
    common = set.intersection(*(set(v) for v in listings.values()))
    lonely = sorted(set.union(*(set(v) for v in listings.values())) - common)
    if lonely:
        raise DataError(f"inputs do not pair up: {lonely[:5]} missing in some of {names}.")
    return [{n: listings[n][key] for n in names} for key in sorted(common)]


def overlay_backdrop(images, preprocessors):
    """The overlay's backdrop, (H, W, 3) uint8, from the inputs given (any subset of the model's):
    the first 8-bit one (a gray one made 3-channel, a wider one its first three channels), else
    the first one drawn as a depth image (its readings stretched over 0-255, no reading black).

    Examples:
        >>> from cenkeras.layers.preprocessing import ModalityPreprocessor
        >>> depth = np.array([[[[0], [1000], [3000]]]], np.uint16)
        >>> overlay_backdrop({"depth": depth}, {"depth": ModalityPreprocessor("depth")})[0, :, 0].tolist()
        [0, 0, 255]
    """
    given = [name for name in preprocessors if name in images]
    eight_bit = next((name for name in given if preprocessors[name].raw_dtype == "uint8"), None)
    if eight_bit is not None:
        image = np.asarray(images[eight_bit][0])
    else:
        values = np.asarray(images[given[0]][0][..., :1], np.float64)
        readings = values[values > 0]
        low, high = (readings.min(), readings.max()) if readings.size else (0.0, 1.0)
        stretched = (values - low) / max(high - low, 1e-12) * 255
        image = np.where(values > 0, np.clip(stretched, 0, 255), 0).astype(np.uint8)
    if image.shape[-1] < 3:
        image = np.repeat(image[..., :1], 3, axis=-1)
    return np.ascontiguousarray(image[..., :3])


def legend_entries(labels, class_names=None, ignore_label=255):
    """`[(class, name, colour, share of the pixels)]` of the classes present in `labels`, the largest
    first; a class without a name is "class N".

    Examples:
        >>> labels = np.array([[0, 0, 0, 2]], np.uint8)
        >>> [(c, n, round(f, 2)) for c, n, _, f in legend_entries(labels, ["wall", "floor", "bed"])]
        [(0, 'wall', 0.75), (2, 'bed', 0.25)]
    """
    classes, counts = np.unique(labels[labels != ignore_label], return_counts=True)
    palette = color_palette()
    order = np.argsort(-counts, kind="stable")
    total = max(int(counts.sum()), 1)
    entries = []
    for index in order:
        label = int(classes[index])
        name = class_names[label] if class_names and label < len(class_names) else f"class {label}"
        entries.append((label, name, tuple(int(v) for v in palette[(label + 1) % 256]), float(counts[index] / total)))
    return entries


def draw_legend(entries, height):
    """A white panel `height` pixels high listing `entries` (`legend_entries`): a swatch of each
    class's colour, its name and share; what does not fit is summed up in a last line."""
    font_size = max(10, min(24, height // 16))
    font = ImageFont.load_default(size=font_size)
    row = font_size + font_size // 2
    fits = max(1, height // row)
    shown = entries if len(entries) <= fits else entries[: fits - 1]
    lines = [f"{name} {share:.0%}" for _, name, _, share in shown]
    if len(shown) < len(entries):
        lines.append(f"+ {len(entries) - len(shown)} more")
    width = row + max((int(font.getlength(line)) for line in lines), default=0) + font_size
    panel = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(panel)
    for index, line in enumerate(lines):
        top = index * row + font_size // 4
        if index < len(shown):
            draw.rectangle([font_size // 2, top, font_size // 2 + font_size, top + font_size], fill=shown[index][2])
        draw.text((row + font_size // 2, top), line, fill="black", font=font)
    return np.asarray(panel)


def predict(model_path, inputs, out_dir, output="ensemble", verbose=1, class_names=None):
    """Segment every sample of `inputs` and write labels, colour masks and overlays to `out_dir`.

    `class_names` names the classes in the overlays' legends, where the model
    does not (a run's data, a `.keras` file); a SavedModel or export says
    them in its metadata.
    """
    predictor = Predictor(model_path, labels_only=True)
    class_names = class_names or predictor.class_names
    predictor.check_inputs(list(inputs))
    samples = expand_inputs(inputs)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    progress = keras.utils.Progbar(len(samples), verbose=verbose, unit_name="image")
    written = []
    for index, sample in enumerate(samples):
        images = {n: predictor.read(n, p) for n, p in sample.items()}
        sizes = {f"{name} {sample[name]}": f"{image.shape[2]}x{image.shape[1]}" for name, image in images.items()}
        if len(set(sizes.values())) > 1:
            raise DataError(f"the images of one sample must have the same size, got {sizes}.")
        labels = predictor(images)[f"{output}_labels"][0].astype(np.uint8)
        stem = Path(next(iter(sample.values()))).stem
        colours = colorize(labels)
        base = overlay_backdrop(images, predictor.preprocessors)
        legend = draw_legend(legend_entries(labels, class_names), labels.shape[0])
        overlay = np.concatenate([base, colours, (0.5 * base + 0.5 * colours).astype(np.uint8), legend], axis=1)
        Image.fromarray(labels).save(out_dir / f"{stem}_labels.png")
        Image.fromarray(colours).save(out_dir / f"{stem}_color.png")
        Image.fromarray(overlay).save(out_dir / f"{stem}_overlay.png")
        written.append(out_dir / f"{stem}_labels.png")
        progress.update(index + 1)
    return written


def translate_served(model_path, inputs, out_path):
    """Translate one set of input files (`{domain: path}`) with an exported translation model
    (SavedModel, ONNX, LiteRT or OpenVINO); writes the ensemble output, at the inputs' size, to
    `out_path`. The inputs must share one size (the export resizes them to the network's)."""
    predictor = Predictor(model_path, task="translation")
    predictor.check_inputs(list(inputs))
    generated = predictor({name: predictor.read(name, path) for name, path in inputs.items()})
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(generated["ensemble"][0]).save(out_path)
    return out_path
