"""Folding networks Loihi cannot run into LIF / CUBA-LIF networks it can (docs/folding.md).

One module per source neuron, one registry line each (:data:`FOLDERS`):

- :mod:`.gpn`: the gated parametric neuron's gates -> per-neuron LIF parameters;
- :mod:`.s2net`: s2net's ``W W^T`` reset and Deneve lateral inhibition -> a LIF layer's
  recurrent weight;
- :mod:`.pr_v2`: Ponghiran & Roy's forget gate and graded outputs -> CUBA-LIF decays and
  binary spikes;
- :mod:`.lif`: what converted LIF / CUBA-LIF networks have and Loihi's neuron lacks (the reset
  by subtraction, a constant current through the current decay).

For Loihi 2 (``fold --target loihi2``, :data:`LOIHI2_FOLDERS`) the gates are not folded away:
:mod:`.pr_v2_loihi2` keeps pr-v2's forget gate and graded outputs, :mod:`.gpn_loihi2` a GPN's
four gates; both give an integer network whose neurons are programs of their own.

What they share is in :mod:`.common` (settings, decay clustering, calibration batches);
:mod:`.distill` fine-tunes a folded network towards its source; :mod:`.report` prints and
plots a fold report. Folding files (checkpoint + data folder -> checkpoint) is the fold
stage's work (:mod:`spikedeploy.stages.fold`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch

from ..errors import CheckpointError, ConfigError
from ..models.networks import NetworkConfig, SpikingNetwork
from ..training.checkpoint import load_checkpoint
from .common import (DISTILL_LOSSES, FOLD_METHODS, DecayClusters, FoldConfig, calibration_batches,
                     check_calibration, cluster_decays, recluster_)
from .distill import distill, logits_of
from .gpn import (FOLDED_VTH, GateConstants, FoldedLayer, LayerGateStats, build_folded_network, fold_gpn, fold_layer,
                  folded_network_config, gate_statistics)
from .gpn_loihi2 import fold_gpn_loihi2, hard_gate_gpn_logits
from .lif import fold_lif, needs_fold
from .pr_v2 import fold_pr_v2
from .pr_v2_loihi2 import fold_pr_v2_loihi2, hard_gate_logits
from .report import format_graded_report, format_report, plot_decays
from .s2net import fold_s2net

#: Folds by hidden neuron kind: ``fn(net, calib_x, config, progress=...) -> (network, report)``.
#: The folded network is LIF / CUBA-LIF (what the quantiser, NIR export and Lava take).
FOLDERS: dict[str, Callable[..., tuple[SpikingNetwork, dict[str, Any]]]] = {
    "gpn": fold_gpn,
    "s2net": fold_s2net,
    "pr-v2": fold_pr_v2,
    "lif": fold_lif,
    "cuba-lif": fold_lif,
}


#: Loihi 2 folds by hidden neuron kind (``fold --target loihi2``): ``(fold(net, calib_x, batch_size=,
#: progress=) -> (Loihi2Network, report), the float network with its Loihi 2 gates -> logits)``.
#: Other kinds need no graded spikes: their Loihi 1 fold runs on Loihi 2 as it is.
LOIHI2_FOLDERS: dict[str, tuple[Callable[..., Any], Callable[..., torch.Tensor]]] = {
    "pr-v2": (fold_pr_v2_loihi2, hard_gate_logits),
    "gpn": (fold_gpn_loihi2, hard_gate_gpn_logits),
}


#: Neuron kinds that always need a fold (LIF / CUBA-LIF need one only for what :func:`needs_fold` names).
ALWAYS_FOLDED = ("gpn", "s2net", "pr-v2")


def fold_needed(config: NetworkConfig) -> bool:
    """Whether a network built from ``config`` must be folded before export: GPN, s2net and
    pr-v2 networks always; LIF / CUBA-LIF ones with the reset by subtraction or a synapse bias
    through the current decay (CUBA-LIF)."""
    if config.neuron in ALWAYS_FOLDED:
        return True
    return config.neuron in ("lif", "cuba-lif") and (config.reset != "zero"
                                                      or (config.neuron == "cuba-lif" and config.synapse_bias))


def fold_network(net: SpikingNetwork, calib_x: torch.Tensor, config: FoldConfig = FoldConfig(), *,
                 progress: bool = False) -> tuple[SpikingNetwork, dict[str, Any]]:
    """Fold ``net`` with the fold of its neuron kind (:data:`FOLDERS`); ConfigError for a kind
    that has no fold (LIF / CUBA-LIF networks need none)."""
    kind = net.config.neuron
    if kind not in FOLDERS:
        raise ConfigError("model.neuron", f"a {kind!r} network has no fold", valid=sorted(FOLDERS),
                          remedy="LIF / CUBA-LIF networks go to the quantiser and export-nir directly")
    folded, report = FOLDERS[kind](net, calib_x, config, progress=progress)
    report.setdefault("kind", kind)
    report.setdefault("config", config.to_dict())
    report.setdefault("calib_samples", int(calib_x.shape[0]) if calib_x is not None else 0)
    return folded, report


def load_foldable_checkpoint(path: str | Path) -> tuple[SpikingNetwork, dict[str, Any]]:
    """:func:`~spikedeploy.training.checkpoint.load_checkpoint`, refusing a network that has
    no fold (:data:`FOLDERS`)."""
    net, meta = load_checkpoint(path)
    if net.config.neuron in ("lif", "cuba-lif") and not needs_fold(net):
        raise CheckpointError(path, f"holds a {net.config.neuron!r} network that Loihi's neuron runs as it is: "
                                    "there is nothing to fold",
                              remedy="LIF/CUBA-LIF checkpoints go to the quantiser directly (spikedeploy export-nir)")
    if net.config.neuron not in FOLDERS:
        raise CheckpointError(path, f"holds a {net.config.neuron!r} network; folding needs a network of "
                                    f"{', '.join(sorted(FOLDERS))} neurons",
                              remedy="fold a checkpoint trained with a GPN, s2net or pr-v2 preset (e.g. "
                                     "`spikedeploy train --preset gpn-small`); LIF/CUBA-LIF checkpoints go to the "
                                     "quantiser directly")
    return net, meta


__all__ = ["ALWAYS_FOLDED", "DISTILL_LOSSES", "DecayClusters", "FOLDED_VTH", "FOLDERS", "FOLD_METHODS",
           "FoldConfig", "FoldedLayer", "GateConstants", "LayerGateStats", "build_folded_network",
           "calibration_batches", "check_calibration", "cluster_decays", "distill", "fold_gpn", "fold_layer",
           "LOIHI2_FOLDERS", "fold_gpn_loihi2", "fold_lif", "fold_needed", "fold_network", "fold_pr_v2",
           "fold_pr_v2_loihi2", "hard_gate_gpn_logits", "hard_gate_logits", "fold_s2net", "folded_network_config",
           "format_graded_report", "format_report", "gate_statistics", "load_foldable_checkpoint", "logits_of",
           "needs_fold",
           "plot_decays", "recluster_"]
