"""Export trained runs as TensorFlow SavedModels for TF Serving.

The `serving_default` signature takes one raw image per modality (uint8
colour/gray images, uint16 depth; batch, any height and width), does the
training preprocessing inside the graph and returns, for segmentation, the
per-pixel labels and class probabilities of the ensemble and of each
modality at input resolution; for translation the generated images as uint8.
A second signature, `metadata`, returns the input names, dtypes and the
preprocessing (as JSON and one `<input>_preprocessing` text per input);
`saved_model_cli show --all` shows the named inputs with their dtypes and
these outputs, and `assets.extra/cenkeras.json` holds the same description.

A network that can run without some of its modalities (CEN's exchange with
the alpha ensemble, `cenkeras.models.subset`) also gets one signature per
subset of its inputs, `serving_<a>_and_<b>...`, taking only those inputs
and returning their outputs and the ensemble: every proper subset up to 3
modalities, each single modality beyond. The metadata's `signatures` lists
the inputs of each; `serving_default` stays the full set.

`serving_png` takes the full set as one base64-encoded PNG string per image
and input (TF Serving's REST `{"b64": ...}`), decoded and checked inside the
graph (`cenkeras.serving.png_inputs`), and returns what `serving_default` returns.

The networks are traced with their norms as constants of the weights
(`cenkeras.serving.frozen_norms`): the file saves the other variables only.
"""

import functools
import json
from pathlib import Path

import tensorflow as tf

from cenkeras.data.modality_dropout import subsets_by_pattern
from cenkeras.serving.frozen_norms import FrozenNorms
from cenkeras.layers.resize import resize_antialiased
from cenkeras.serving.png_inputs import decode_png_input, describe_png_input
from cenkeras.training.precision import keras_policy, resolve_precision

DEFAULT_ROOT = "saved_models"


def next_version(model_dir):
    """1 + the largest numeric version folder in `model_dir` (1 if none)."""
    model_dir = Path(model_dir)
    versions = [int(p.name) for p in model_dir.iterdir() if p.name.isdigit()] if model_dir.is_dir() else []
    return max(versions, default=0) + 1


def _input_spec(name, preprocessor):
    """The raw input of one modality; the spec's name is the signature's input name."""
    dtype, channels = preprocessor.raw_dtype, preprocessor.raw_channels
    units = " (PNG units)" if preprocessor.kind == "depth" else ""
    plural = "channel" if channels == 1 else "channels"
    return tf.TensorSpec([None, None, None, channels], dtype, name=name), f"{dtype}, {channels} {plural}{units}"


def _describe_inputs(preprocessors):
    """`(specs, description)` of the raw inputs: dtype, channels and the preprocessing of each."""
    specs, description = {}, {}
    for name, preprocessor in preprocessors.items():
        specs[name], text = _input_spec(name, preprocessor)
        description[name] = {
            "dtype": text,
            "preprocessing": preprocessor.describe(),
            "preprocessor": preprocessor.options(),
        }
    return specs, description


def subset_signatures(model):
    """`{signature key: modalities}` of the proper subsets `model` serves beside the full set
    (none for a network that needs every modality)."""
    from cenkeras.models.subset import check_subset

    names = tuple(model.modalities)
    try:
        check_subset(model, names[:1])
    except ValueError:
        return {}
    subsets = [subset for _, subset in subsets_by_pattern(names) if len(subset) < len(names)]
    if len(names) > 3:  # 2^M - 2 signatures grow fast: the single modalities only
        subsets = [subset for subset in subsets if len(subset) == 1]
    return {"serving_" + "_and_".join(subset): subset for subset in subsets}


# The segmentation signature that returns the full set's `<output>_labels` and nothing else.
LABELS_SIGNATURE = "serving_labels"


class _Untracked:
    """Holds objects a tf.Module must not save as its children (it would track them as attributes)."""

    def __init__(self, value):
        self.value = value


def _named(function, name):
    """`function` (a functools.partial) under `name`: the saved graph's functions are named after it."""
    function.__name__ = name
    return function


class _SubsetServing:
    """What both serving modules share: the full-set and per-subset serving functions, described.

    The network runs in one `forward` function per input set (preprocessing
    and the model); every signature of that set calls it, so the SavedModel
    holds each network once however many signatures serve it (the file and,
    above all, the memory of a loaded model grow with every copy: about
    0.1 GB a RefineNet-101 graph in `tf.saved_model.load`). Subclasses give
    `_forward(model, names, images)` and `_outputs(outputs, images, names, **options)`.
    """

    def add_subset_signatures(self, model, description):
        """Make `self.serve`, `self.serve_png` and one function per subset (`self.subset_serves`);
        record them in `description["signatures"]`."""
        subsets = subset_signatures(model)
        full = tuple(model.modalities)
        # The norms run on constants of their inference values (`FrozenNorms`): the graphs
        # read, and the file saves, the other variables only.
        self._frozen = _Untracked(FrozenNorms(model))
        folded = {id(variable) for variable in self._frozen.value.folded_variables}
        # The model itself is not saved as an object: its variables are, flat. The saved
        # functions capture nothing else, and a saved Keras model would add its own default
        # signature, one more copy of the network (`model.keras` beside the SavedModel keeps it).
        self.model_variables = [variable for variable in model.variables if id(variable) not in folded]
        networks = {full: model, **{names: model.subset(names) for names in subsets.values()}}
        # Not saved as objects either: the signatures calling them carry them into the file.
        self._forwards = _Untracked(
            {
                names: tf.function(
                    _named(functools.partial(self._forward, net, names), "forward_" + "_and_".join(names)),
                    input_signature=[self._specs_of(names)],
                )
                for names, net in networks.items()
            }
        )
        description["signatures"] = {"serving_default": list(full)}
        description["signatures"].update({key: list(names) for key, names in subsets.items()})
        self.serve = self.serving_function(full, "serve")
        self.serve_png = tf.function(
            _named(functools.partial(self._serve_png, full), "serve_png"),
            input_signature=[{name: tf.TensorSpec([None], tf.string, name=name) for name in self.specs}],
        )
        # Apart from "signatures", which lists the signatures taking raw pixels.
        description["serving_png"] = {name: describe_png_input(p) for name, p in self.preprocessors.items()}
        self.subset_serves = {key: self.serving_function(names, key) for key, names in subsets.items()}

    def serving_function(self, names, name, **options):
        """A tf.function from the raw images of `names` to the outputs (`_outputs(**options)`)."""
        return tf.function(
            _named(functools.partial(self._serve, names, **options), name),
            input_signature=[self._specs_of(names)],
        )

    def _specs_of(self, names):
        """The raw input specs of `names`, in that order."""
        return {name: self.specs[name] for name in names}

    def _serve(self, names, images, **options):
        images = _check_images(images, self._specs_of(names))
        return self._outputs(self._forwards.value[names](images), images, names, **options)

    def _network_call(self, model, inputs):
        """`model(inputs)` at inference, traced with the norms as constants."""
        with self._frozen.value.applied():
            return model(inputs, training=False)

    def _serve_png(self, names, strings):
        """The full set from one PNG byte string per image and input (`cenkeras.serving.png_inputs`)."""
        images = {name: decode_png_input(strings[name], name, self.preprocessors[name]) for name in strings}
        return self._serve(names, images)

    def signatures(self):
        """Every signature to save: serving_default, serving_png, the subsets' and metadata."""
        return {
            "serving_default": self.serve,
            "serving_png": self.serve_png,
            **self.subset_serves,
            "metadata": self.metadata,
        }

    def input_sets(self):
        """`{frozenset of input names: serving function}`: the full set and every subset served."""
        functions = [self.serve, *self.subset_serves.values()]
        return {frozenset(function.input_signature[0]): function for function in functions}


class SegmentationServing(_SubsetServing, tf.Module):
    """Raw images in, labels and probabilities at input resolution out.

    The preprocessing is the segmenter's own (`segmenter.preprocessors()`);
    `preprocessors` gives it for a model saved without it (older files).
    `class_names`, one per class, go into the metadata (`class_names`), where
    `cenkeras predict` and other clients read the legend of the labels.

    Examples:

        ```python
        module = SegmentationServing(segmenter)
        tf.saved_model.save(module, "saved_models/nyudv2/1", signatures=module.signatures())
        ```
    """

    def __init__(self, segmenter, preprocessors=None, class_names=None):
        super().__init__()
        self.preprocessors = preprocessors or segmenter.preprocessors()
        if self.preprocessors is None:
            raise ValueError(f"{segmenter.name} was saved without its preprocessing; pass `preprocessors`.")
        self.names = list(self.preprocessors)
        self.outputs = self.names + ["ensemble"]
        self.specs, inputs = _describe_inputs(self.preprocessors)
        description = {"task": "segmentation", "inputs": inputs, "outputs": {}}
        for name in self.outputs:
            description["outputs"][f"{name}_labels"] = "int32 (batch, H, W): argmax class per pixel"
            description["outputs"][f"{name}_probabilities"] = (
                f"float32 (batch, H, W, {segmenter.num_classes}): softmax of the bilinearly upsampled logits"
            )
        self.add_subset_signatures(segmenter, description)
        # The full set's labels alone: a caller that wants labels (`cenkeras predict`, a map
        # renderer) is spared the full-resolution probabilities of every output (0.3 GB a
        # 480x640 request for 40 classes) and the softmax over them.
        self.serve_labels = self.serving_function(tuple(segmenter.modalities), "serve_labels", probabilities=False)
        description["labels_signature"] = LABELS_SIGNATURE
        if class_names:  # for clients' legends and reports: label i is class_names[i]
            if len(class_names) != segmenter.num_classes:
                raise ValueError(f"{len(class_names)} class names for {segmenter.num_classes} classes.")
            description["class_names"] = list(class_names)
        # A JSON string: a dict attribute would become a tracked TensorFlow container.
        self.description_json = json.dumps(description, indent=2)
        self.metadata = tf.function(self._metadata, input_signature=[])

    def signatures(self):
        return {**super().signatures(), LABELS_SIGNATURE: self.serve_labels}

    def _forward(self, model, names, images):
        """The logits of every output for raw `images`."""
        return self._network_call(model, {name: self.preprocessors[name](images[name]) for name in names})

    def _outputs(self, logits, images, names, probabilities=True):
        size = tf.shape(images[names[0]])[1:3]
        result = {}
        for name in [*names, "ensemble"]:
            up = tf.image.resize(tf.cast(logits[name], tf.float32), size, method="bilinear")
            if probabilities:
                up = result[f"{name}_probabilities"] = tf.nn.softmax(up, axis=-1)
            # The softmax keeps the order of the classes: the argmax of the logits is the same.
            result[f"{name}_labels"] = tf.argmax(up, axis=-1, output_type=tf.int32)
        return result

    def _metadata(self):
        return _metadata_outputs(self.description_json)


class TranslationServing(_SubsetServing, tf.Module):
    """Raw uint8 domain images in, generated uint8 images (each branch and the ensemble) out.

    Examples:

        ```python
        module = TranslationServing(generator, recipe)
        tf.saved_model.save(module, "saved_models/taskonomy/1", signatures=module.signatures())
        ```
    """

    def __init__(self, generator, recipe):
        super().__init__()
        self.preprocessors = generator.preprocessors()
        self.domains = list(self.preprocessors)
        self.size = recipe.data.crop_size
        self.outputs = self.domains + ["ensemble"]
        self.specs, inputs = _describe_inputs(self.preprocessors)
        for spec in inputs.values():
            spec["preprocessing"] += f", resized to {self.size}x{self.size} (bilinear)"
        description = {
            "task": "translation",
            "inputs": inputs,
            "outputs": {
                n: f"uint8 (batch, H, W, 3): generated {recipe.data.domains[-1]} at input size" for n in self.outputs
            },
        }
        self.add_subset_signatures(generator, description)
        self.description_json = json.dumps(description, indent=2)
        self.metadata = tf.function(self._metadata, input_signature=[])

    def _forward(self, model, domains, images):
        """The generated images (model range) of every output at the model's size."""
        # tf.image.resize(antialias=True) in ops that the LiteRT converter knows too.
        inputs = {d: resize_antialiased(self.preprocessors[d](images[d]), (self.size, self.size)) for d in domains}
        return self._network_call(model, inputs)

    def _outputs(self, generated, images, domains):
        size = tf.shape(images[domains[0]])[1:3]
        to_uint8 = self.preprocessors[domains[0]].to_uint8
        result = {}
        for name in [*domains, "ensemble"]:
            result[name] = to_uint8(tf.image.resize(tf.cast(generated[name], tf.float32), size, method="bilinear"))
        return result

    def _metadata(self):
        return _metadata_outputs(self.description_json)


def _metadata_outputs(description_json):
    """The whole description as JSON, and one `<input>_preprocessing` string per input.

    `saved_model_cli show --all` lists these outputs by name; their texts are
    returned by the signature (`tf.saved_model.load(path).signatures["metadata"]()`)
    and written to `assets.extra/cenkeras.json`.
    """
    description = json.loads(description_json)
    outputs = {"cenkeras": tf.constant(description_json)}
    for name, spec in description["inputs"].items():
        outputs[f"{name}_preprocessing"] = tf.constant(f"{spec['dtype']}; {spec['preprocessing']}")
    return outputs


def _check_images(images, specs):
    """`images` after in-graph checks that name the input: signatures do not check shapes at call time.

    The model reads the returned tensors, which depend on the checks, so a
    bad request fails at a check and never inside the network.
    (No quotes in the messages: TensorFlow escapes them in the error text.)
    """
    first = next(iter(specs))
    checks = []
    for name, spec in specs.items():
        shape = tf.shape(images[name])
        checks += [
            tf.debugging.assert_equal(
                shape[-1], spec.shape[-1], message=f"input {name} must have {spec.shape[-1]} channels"
            ),
            tf.debugging.assert_positive(shape[0], message=f"input {name} holds no images (batch size 0)"),
            tf.debugging.assert_positive(shape[1] * shape[2], message=f"input {name} is empty (height or width 0)"),
            tf.debugging.assert_equal(
                shape[:3],
                tf.shape(images[first])[:3],
                message=f"input {name} must have the batch size, height and width of input {first}",
            ),
        ]
    with tf.control_dependencies(checks):
        return {name: tf.identity(images[name]) for name in specs}


def serving_call(signature, **images):
    """Call a loaded `serving_default` signature after checking names, dtypes, channels and sizes.

    Raises ValueError naming the offending input (TensorFlow's own dtype
    error only gives its position).
    """
    expected = signature.structured_input_signature[1]
    missing = sorted(set(expected) - set(images))
    unexpected = sorted(set(images) - set(expected))
    if missing or unexpected:
        raise ValueError(f"the model takes inputs {sorted(expected)}; missing {missing}, unexpected {unexpected}.")
    tensors = {}
    for name, spec in expected.items():
        value = tf.convert_to_tensor(images[name])
        if value.dtype != spec.dtype:
            raise ValueError(f"input '{name}' must be {spec.dtype.name}, got {value.dtype.name}.")
        if value.shape.rank != 4 or value.shape[-1] != spec.shape[-1]:
            raise ValueError(
                f"input '{name}' must have shape (batch, height, width, {spec.shape[-1]}), got {tuple(value.shape)}."
            )
        if 0 in value.shape[:3]:
            raise ValueError(f"input '{name}' holds no pixels: shape {tuple(value.shape)}.")
        tensors[name] = value
    sizes = {name: tuple(value.shape[:3]) for name, value in tensors.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"inputs must share batch, height and width, got {sizes}.")
    return signature(**tensors)


def serving_policy(precision):
    """Models built inside are for serving in `precision` (see `export_run`)."""
    policy = resolve_precision(precision)
    return keras_policy("bfloat16" if policy == "mixed_bfloat16" else policy)
