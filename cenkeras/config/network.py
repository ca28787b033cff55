"""What every CEN network recipe shares: the exchange, the fusion, the ablation switches, speed options.

`ModelConfig` (segmentation) and `GeneratorConfig` (translation) extend
`NetworkConfig`; `network_options` turns it into the `NetworkOptions` every
builder takes, so a new shared option is added here and there once. The exchange and
the fusion are one object each (`ExchangeConfig`, `FusionConfig`), passed
unchanged from the recipe to the builders and, field for field, to the layers.
"""

import dataclasses
import functools

from cenkeras.config.checks import ConfigError
from cenkeras.layers.ensemble import ENSEMBLES
from cenkeras.layers.exchange import ExchangeConfig
from cenkeras.layers.fusion import FusionConfig
from cenkeras.models.options import NetworkOptions
from cenkeras.utils.renamed_keys import renamed_options


# The model section's renamed options: `{old name: path now}`, value-to-section renames first.
RENAMED_OPTIONS = renamed_options("model")


def _is_section(value):
    return dataclasses.is_dataclass(value) or isinstance(value, dict)


def accepts_renamed_arguments(cls):
    """Let a network config take the keyword arguments of older versions, so recipe files
    written then (`ModelConfig(threshold=..., exchange="all", exchange_rule=...)`) still load:
    they are set after the others, and `NetworkConfig.__setattr__` puts each where it is now."""
    init = cls.__init__

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        old = {name: kwargs.pop(name) for name in RENAMED_OPTIONS if name in kwargs and not _is_section(kwargs[name])}
        init(self, *args, **kwargs)
        for name, value in old.items():
            setattr(self, name, value)

    cls.__init__ = __init__
    return cls


@dataclasses.dataclass
class NetworkConfig:
    """Exchange, fusion, ablation switches and speed options of a CEN network.

    - `exchange`: `model.exchange.threshold` (theta on |gamma|), `.scope`
      ("all" = official code, "part" = the paper's strict reading, None =
      off), `.rule` ("threshold" = CEN; ablations "fixed" / "random" exchange
      `.portion` of each part, "discard" zeroes), `.sparsity_scope` ("part" /
      "all": where the L1 term acts), `.placement` ("every_block" or "downsampling": the first
      bottleneck of each stage only). See `cenkeras.layers.ExchangeConfig`.
    - `fusion`: `model.fusion.method` ("exchange" = CEN, or a baseline "concat",
      "average", "self_attention", "align"), `.stage` (early / middle / late /
      all), `.alignment_weight` (align's MMD). See `cenkeras.layers.fusion.FusionConfig`.
    - `share_convs` / `share_norms`: the ablations of Table 1 (False / True are the baselines).
    - `dropout`: rate of the network's dropouts.
    - `ensemble`: "alpha" (CEN's softmax(alpha) ensemble of the branches) or "concat" (the
      ablation's concat-fusion block).
    - `lone_norms`: each modality also has norms of its own for when it runs alone (a missing
      partner), trained by `train.modality_dropout`'s batches that keep it alone.
    - `stack_streams`, `affine_inference`: speed options with the same results: the M streams
      run as one batch through the shared layers (ignored with `share_convs: false`), and norms
      on running statistics run as one multiply-add.
    """

    exchange: ExchangeConfig = dataclasses.field(default_factory=ExchangeConfig)
    fusion: FusionConfig = dataclasses.field(default_factory=FusionConfig)
    share_convs: bool = True
    share_norms: bool = False
    dropout: float = 0.5
    stack_streams: bool = True
    affine_inference: bool = True
    ensemble: str = "alpha"
    lone_norms: bool = False

    def __setattr__(self, name, value):
        moved = RENAMED_OPTIONS.get(name)
        if moved and (name not in self.__dataclass_fields__ or not _is_section(value)):
            self._set_moved(name, moved, value)
        elif name in self.__dataclass_fields__:
            super().__setattr__(name, value)
        else:  # a recipe file's line that would otherwise be ignored silently
            raise AttributeError(f"model.{name} is not a recipe option; they are {sorted(self.__dataclass_fields__)}.")

    def _set_moved(self, name, path, value):
        """`model.<old name> = value` (a recipe file of an older version) sets the option where it
        is now: `model.exchange_rule` -> `model.exchange.rule`, `model.exchange = None` (the value
        form) -> `model.exchange.scope`."""
        if len(path) == 1:
            setattr(self, path[0], value)
            return
        section, field = path
        try:
            setattr(self, section, dataclasses.replace(getattr(self, section, None), **{field: value}))
        except TypeError:
            owner = f"architecture {self.architecture!r}" if hasattr(self, "architecture") else type(self).__name__
            raise AttributeError(f"model.{name} (now model.{section}.{field}) is not an option of {owner}.") from None

    def validate(self):
        try:
            self.exchange.validate("model.exchange")
            self.fusion.validate("model.fusion")
        except ValueError as error:
            raise ConfigError(str(error)) from None
        if self.ensemble not in ENSEMBLES:
            raise ConfigError(f"model.ensemble must be one of {list(ENSEMBLES)}, got {self.ensemble!r}.")


def network_options(model_config, sparsity=0.0):
    """The `cenkeras.models.NetworkOptions` every CEN builder takes, from a recipe's model section;
    `sparsity` is the L1 lambda the network gets (the tasks derive it from the training section)."""
    return NetworkOptions(
        exchange=model_config.exchange,
        fusion=model_config.fusion,
        sparsity=sparsity,
        share_convs=model_config.share_convs,
        share_norms=model_config.share_norms,
        dropout=model_config.dropout,
        # Stacking needs shared convolutions; the unshared-convs ablation runs stream by stream.
        stack_streams=model_config.stack_streams and model_config.share_convs,
        affine_inference=model_config.affine_inference,
        lone_norms=model_config.lone_norms,
        ensemble=model_config.ensemble,
    )


def describe_fusion(model_config):
    """One line for run summaries: CEN's exchange (and its rule) or the fusion baseline and its stage."""
    fusion, exchange = model_config.fusion, model_config.exchange
    if fusion.in_norms:
        return "conditional norms (CBN) at the exchange sites, no exchange"
    if fusion.is_baseline:
        return f"{fusion.method} at {fusion.stage} stage(s), no exchange"
    if exchange.scope is None:
        return "none (exchange off)"
    detail = f", {exchange.portion:.0%} of each part" if exchange.rule in ("fixed", "random") else ""
    if exchange.placement != "every_block":
        detail += f", {exchange.placement} blocks only"
    return f"channel exchange ({exchange.rule}{detail})"
