"""Options of a training run that every task shares: precision, seed, distribution, timeouts."""

import dataclasses
from typing import Optional

from cenkeras.config.checks import ConfigError, check_at_least, check_choice, check_number
from cenkeras.training.distribute import STRATEGIES
from cenkeras.layers.presence import SUBSET_ENSEMBLES, SUBSET_FUSIONS
from cenkeras.training.precision import PRECISIONS


@dataclasses.dataclass
class RunOptions:
    """How a training run executes, whatever the task trains.

    - `precision`: "auto" is mixed_bfloat16 where the CPU or GPU computes in
      bf16 natively, else float32. (mixed_float16 would need loss scaling
      across two optimizers; bfloat16 needs none.)
    - `steps_per_epoch`: None is one pass over the training set.
    - `val_every`: validate every N epochs.
    - `deterministic`: op determinism; the same recipe, seed and machine give
      the same weights, resumed or not.
    - `strategy`: "auto", "default", "mirrored" (all GPUs of one machine) or "multiworker".
    - `worker_timeout` / `start_timeout` (multi-worker): seconds without a heartbeat before a
      worker counts as lost (the others then stop with an error), and seconds all workers
      have to join at the start.
    - `modality_dropout`: probability that a training batch drops each input modality (never
      all of them), so the network learns to run without any one (`cenkeras.data.modality_dropout`);
      0 (the paper) is off.
    - `lone_weight`: every training step also runs each input modality alone on the same batch
      and adds its output's loss times this weight (each modality learns to run without its
      partners while the full set trains every step as without it); 0 (the paper) is off.
    - `lone_weights`: `modality:weight` items that give named modalities another lone weight
      than `lone_weight` (e.g. `depth:0.6`; 0 leaves that modality's lone pass out).
    - `step_timeout` / `first_step_timeout` (multi-worker): seconds without a finished step
      (training or validation batch) before the run counts as stuck and stops with an error,
      and the allowance of a step that builds and compiles its function (the first training
      step, the first validation). A worker alive but stuck keeps sending heartbeats; this
      catches it. 0 switches the watch off.
    """

    precision: str = "auto"
    jit_compile: bool = False
    steps_per_epoch: Optional[int] = None
    val_every: int = 5
    seed: int = 42
    deterministic: bool = False
    strategy: str = "auto"
    worker_timeout: int = 60
    start_timeout: int = 600
    step_timeout: int = 600
    first_step_timeout: int = 1800
    modality_dropout: float = 0.0
    lone_weight: float = 0.0
    lone_weights: tuple[str, ...] = ()

    def validate(self):
        check_choice("train.precision", self.precision, PRECISIONS)
        check_choice("train.strategy", self.strategy, STRATEGIES)
        for key in ("worker_timeout", "start_timeout"):
            check_at_least(f"train.{key}", getattr(self, key), 1, " second")
        for key in ("step_timeout", "first_step_timeout"):
            check_at_least(f"train.{key}", getattr(self, key), 0, " second")
        check_number("train.modality_dropout", self.modality_dropout)
        check_number("train.lone_weight", self.lone_weight)
        _parse_lone_weights(self.lone_weights)
        if self.modality_dropout >= 1:
            raise ConfigError(f"train.modality_dropout must be in [0, 1), got {self.modality_dropout}.")


def _parse_lone_weights(items):
    """`{modality: weight}` of `train.lone_weights`' `modality:weight` items."""
    weights = {}
    for item in items:
        name, separator, text = str(item).partition(":")
        name = name.strip()
        try:
            weight = float(text) if separator and name else None
        except ValueError:
            weight = None
        if weight is None:
            raise ConfigError(f"train.lone_weights: expected modality:weight items (e.g. depth:0.6), got {item!r}.")
        if name in weights:
            raise ConfigError(f"train.lone_weights names {name!r} twice.")
        check_number(f"train.lone_weights[{name}]", weight)
        weights[name] = weight
    return weights


def lone_weights(train, modalities):
    """Each modality's weight of the lone passes: `train.lone_weight`, or its `train.lone_weights`
    item. A name that is not one of `modalities` is an error naming the inputs."""
    named = _parse_lone_weights(train.lone_weights)
    unknown = sorted(set(named) - set(modalities))
    if unknown:
        raise ConfigError(f"train.lone_weights names {unknown}, not inputs of this recipe (have {list(modalities)}).")
    return {name: named.get(name, train.lone_weight) for name in modalities}


def require_lone_passes(key, lone_weights, role):
    """Refuse `key`, a switch acting on the lone passes (`role`: how, for the message), when every
    lone weight is 0."""
    if not any(lone_weights.values()):
        raise ConfigError(f"{key} needs train.lone_weight > 0 (the lone passes it {role}).")


def check_modality_dropout(probability, model, modalities, lone_weights):
    """Modality dropout and the lone passes (`lone_weights`: each modality's weight, from
    `lone_weights()`) train subsets of the streams: refuse them (naming the key) for a network
    that cannot run on a subset. `model` is the recipe's network config, `modalities` its inputs.
    `model.lone_norms` needs one of them: nothing else trains a lone modality's norms."""
    lone_weight = any(lone_weights.values())
    if getattr(model, "lone_norms", False) and not (probability or lone_weight):
        raise ConfigError(
            "model.lone_norms=true needs train.modality_dropout > 0 (or train.lone_weight > 0): "
            "nothing else trains the norms a modality uses alone."
        )
    if probability and lone_weight:
        raise ConfigError(
            "train.modality_dropout and train.lone_weight are two ways of training for a missing modality "
            "(drop it from some batches, or run each modality alone in every step): set one of them."
        )
    for key, value in (("train.modality_dropout", probability), ("train.lone_weight", lone_weight)):
        if not value:
            continue
        if len(modalities) < 2:
            raise ConfigError(f"{key} needs at least 2 input modalities, got {modalities}.")
        method = model.fusion.method
        if method not in SUBSET_FUSIONS:
            raise ConfigError(
                f"{key}: model.fusion.method={method!r} needs every modality; "
                "only the exchange (and cbn) run without some."
            )
        if model.ensemble not in SUBSET_ENSEMBLES:
            raise ConfigError(f"{key} needs model.ensemble=alpha (the concat merge needs every branch).")
