"""The options every CEN network shares, as one object: `NetworkOptions`.

A recipe's `NetworkConfig` becomes one `NetworkOptions` (`cenkeras.config.network_options`),
which every builder (RefineNet, PSPNet, the U-Net, a registered architecture) takes as
`network=` and keeps in its config as one section. The networks also take the fields as
keyword arguments of their own (`build_refinenet(..., sparsity=6e-4)`), which is how the
configs of earlier versions, which held them flat, still load.
"""

import dataclasses
import math
from typing import Optional

from cenkeras.layers.exchange import ExchangeConfig
from cenkeras.layers.fusion import FusionConfig


@dataclasses.dataclass(frozen=True)
class NetworkOptions:
    """Exchange, fusion, ablation switches and speed options of a CEN network.

    Args:
        exchange: an `ExchangeConfig` (or its dict; fields it leaves out are CEN's, with the
            network's threshold: 2e-2 for the segmenters, 1e-2 for the generator). None: the
            network's default.
        fusion: a `FusionConfig` (or its dict): CEN's exchange, or a fusion baseline.
        sparsity: lambda of the L1 penalty on the exchange sites' scales (0: off).
        share_convs: False builds one network per modality (ablation).
        share_norms: one norm shared by all modalities (ablation).
        dropout: rate of the network's dropouts (0 disables them); None: the network's default
            (RefineNet and the U-Net 0.5, PSPNet 0.1).
        input_channels: channels of every input (3: depth is replicated).
        stack_streams: run the M streams as one batch through the shared layers (faster; same
            weights and names; ignored without shared convolutions).
        affine_inference: norms on running statistics as one multiply-add.
        ensemble: "alpha" (CEN's softmax(alpha) ensemble of the branches) or "concat" (the
            ablation's concat-fusion block).
        lone_norms: every norm site also holds one norm per modality for when that modality
            runs alone (see `ParallelNormalization`), trained by modality dropout.

    Examples:
        >>> options = NetworkOptions(sparsity=6e-4).resolved(threshold=2e-2, dropout=0.5)
        >>> options.exchange.threshold, options.dropout
        (0.02, 0.5)
        >>> NetworkOptions.from_arguments(None, {"share_norms": True, "name": "net"}, threshold=1e-2, dropout=0.5)[1]
        {'name': 'net'}
    """

    exchange: Optional[ExchangeConfig] = None
    fusion: FusionConfig = dataclasses.field(default_factory=FusionConfig)
    sparsity: float = 0.0
    share_convs: bool = True
    share_norms: bool = False
    dropout: Optional[float] = None
    input_channels: int = 3
    stack_streams: bool = False
    affine_inference: bool = True
    ensemble: str = "alpha"
    lone_norms: bool = False

    @classmethod
    def from_arguments(cls, network, arguments, threshold, dropout):
        """`(options, other arguments)`: `network` (a `NetworkOptions`, its dict or None) with the
        fields given as keyword `arguments` on top, resolved with the network's defaults; the
        arguments that are not options (a layer name, say) come back apart."""
        if isinstance(network, dict):
            network = cls(**network)
        elif network is None:
            network = cls()
        elif not isinstance(network, cls):
            raise ValueError(f"network must be a NetworkOptions (or its dict), got {network!r}.")
        names = {field.name for field in dataclasses.fields(cls)}
        given = {key: arguments[key] for key in arguments if key in names}
        if "exchange" in given and given["exchange"] is None:
            ExchangeConfig.coerce(None)  # earlier versions turned the exchange off so: say how now
        others = {key: value for key, value in arguments.items() if key not in names}
        return dataclasses.replace(network, **given).resolved(threshold, dropout), others

    def resolved(self, threshold, dropout):
        """These options with the network's defaults filled in and checked (the ensemble is
        checked where its layer is made, `cenkeras.layers.make_ensemble`)."""
        exchange = ExchangeConfig(threshold=threshold) if self.exchange is None else self.exchange
        exchange = ExchangeConfig.coerce(exchange, threshold=threshold).validate()
        rate = float(dropout if self.dropout is None else self.dropout)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {rate}.")
        sparsity = float(self.sparsity)
        if not (math.isfinite(sparsity) and sparsity >= 0):
            raise ValueError(f"sparsity must be a finite number >= 0, got {self.sparsity!r}.")
        return dataclasses.replace(
            self,
            exchange=exchange,
            fusion=FusionConfig.coerce(self.fusion).validate(),
            sparsity=sparsity,
            share_convs=bool(self.share_convs),
            share_norms=bool(self.share_norms),
            dropout=rate,
            input_channels=int(self.input_channels),
            stack_streams=bool(self.stack_streams),
            affine_inference=bool(self.affine_inference),
            lone_norms=bool(self.lone_norms),
        )

    @property
    def site_exchange(self):
        """The `ExchangeConfig` the exchange sites get: scope None under a fusion baseline."""
        return dataclasses.replace(self.exchange, scope=None) if self.fusion.is_baseline else self.exchange

    def to_config(self):
        """Plain data, as a network's config holds it."""
        return dataclasses.asdict(self)
