"""What every CEN network recipe shares: the exchange, the ablation switches, the fusion, speed options.

`ModelConfig` (segmentation) and `GeneratorConfig` (translation) extend
`NetworkConfig`; `network_options` turns it into the builder arguments both
builders take, so a new shared option is added here once.
"""

import dataclasses
from typing import Optional

from cenkeras.config.checks import check_choice, check_number
from cenkeras.layers.exchange import EXCHANGE_RULES, EXCHANGE_SCOPES, SPARSITY_SCOPES
from cenkeras.layers.fusion import FUSION_STAGES, FUSIONS


@dataclasses.dataclass
class NetworkConfig:
    """Exchange, ablation switches, fusion and speed options of a CEN network.

    - `threshold`: theta on |gamma| below which a channel is exchanged.
    - `exchange`: which channels are tested: "all" (official code), "part"
      (the paper's strict reading) or None (exchange off).
    - `sparsity_scope`: the L1 term on modality m's part of the scales ("part") or on all ("all").
    - `share_convs` / `share_norms`: the ablations of Table 1 (False / True are the baselines).
    - `stack_streams`, `affine_norms`: speed options with the same results: the M streams run
      as one batch through the shared layers (ignored with `share_convs: false`), and norms on
      running statistics run as one multiply-add.
    - `exchange_rule`: "threshold" (CEN); the ablations "fixed" and "random" exchange
      `exchange_portion` of each part without looking at gamma, "discard" zeroes instead.
    - `fusion`: "exchange" (CEN) or a baseline "concat", "average", "self_attention", "align"
      at `fusion_stage` (early / middle / late / all); `alignment_weight` weighs align's MMD.
    """

    threshold: float = 2e-2
    exchange: Optional[str] = "all"
    sparsity_scope: str = "part"
    share_convs: bool = True
    share_norms: bool = False
    dropout: float = 0.5
    stack_streams: bool = True
    affine_norms: bool = True
    exchange_rule: str = "threshold"
    exchange_portion: float = 0.3
    fusion: str = "exchange"
    fusion_stage: str = "all"
    alignment_weight: float = 0.1

    def validate(self):
        check_choice("model.exchange", self.exchange, EXCHANGE_SCOPES)
        check_choice("model.sparsity_scope", self.sparsity_scope, SPARSITY_SCOPES)
        check_choice("model.exchange_rule", self.exchange_rule, EXCHANGE_RULES)
        check_choice("model.fusion", self.fusion, FUSIONS)
        check_choice("model.fusion_stage", self.fusion_stage, FUSION_STAGES)
        check_number("model.exchange_portion", self.exchange_portion, 0.0, 1.0)
        check_number("model.alignment_weight", self.alignment_weight)
        check_number("model.threshold", self.threshold)


def network_options(model_config):
    """Builder arguments every CEN network recipe shares (exchange, ablation switches, speed options)."""
    return {
        "threshold": model_config.threshold,
        "exchange": model_config.exchange,
        "sparsity_scope": model_config.sparsity_scope,
        "share_convs": model_config.share_convs,
        "share_norms": model_config.share_norms,
        "dropout": model_config.dropout,
        # Stacking needs shared convolutions; the unshared-convs ablation runs stream by stream.
        "stack_streams": model_config.stack_streams and model_config.share_convs,
        "affine_inference": model_config.affine_norms,
        "exchange_rule": model_config.exchange_rule,
        "exchange_portion": model_config.exchange_portion,
        "fusion": model_config.fusion,
        "fusion_stage": model_config.fusion_stage,
        "alignment_weight": model_config.alignment_weight,
    }


def describe_fusion(model_config):
    """One line for run summaries: CEN's exchange (and its rule) or the fusion baseline and its stage."""
    if model_config.fusion != "exchange":
        return f"{model_config.fusion} at {model_config.fusion_stage} stage(s), no exchange"
    if model_config.exchange is None:
        return "none (exchange off)"
    rule = model_config.exchange_rule
    detail = f", {model_config.exchange_portion:.0%} of each part" if rule in ("fixed", "random") else ""
    return f"channel exchange ({rule}{detail})"
