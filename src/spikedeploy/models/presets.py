"""Named presets: a network, its time resolution and its training settings.

=============  ===========================================================================
name           network
=============  ===========================================================================
lif-shd        700 -> 128 recurrent LIF -> LI readout (max over time) -> 20, T = 100
cuba-shd       700 -> 128 recurrent CUBA-LIF -> LI readout (max) -> 20, T = 100
lif-ff-shd     700 -> 128 LIF (no recurrence) -> LI readout (max) -> 20, T = 100
gpn-small      700 -> 128 GPN -> mean-over-time linear -> 20, T = 100 (this machine's size)
gpn-shd        the GPN paper's SHD net: 700 -> 1024 GPN -> dropout 0.25 -> mean-over-time
               linear -> 20; T = 20 frames per second, batch 128, Adam 5e-4, 150 epochs
gpn-ssc        the GPN paper's SSC net: 700 -> 1024 x 3 GPN -> 35; T = 60, batch 1024,
               Adam 1e-3, 300 epochs
pr-v2-shd      700 -> 128 Ponghiran & Roy v2 neurons (6-bit graded outputs) -> LI readout -> 20
s2net-shd      700 -> 128 s2net dense neurons with lateral connections -> LI readout -> 20
s2net-conv-shd  the 700 channels pooled by 5 to 140 bands -> two s2net conv1d layers (8 channels,
               kernel 5, dilations 1, 2; lateral, reset to zero, thresholds >= 0.1: deployable)
               -> LI readout (max over time) -> 20
s2net-conv2d-shd  the same bands -> two s2net conv2d layers (8 channels, kernel (2, 5), dilations
               (1, 1), (2, 2): time taps as synaptic delays; deployable) -> LI readout -> 20
s2net-gsc      s2net's GSC network: 3 conv2d layers of 64 channels over log-Mel + deltas -> 12
               classes (10 words, unknown, silence)
s2net-gsc-small  2 conv2d layers of 16 channels -> 20 (the synthetic digits in GSC's layout)
=============  ===========================================================================

``training`` holds overrides of :class:`spikedeploy.training.config.TrainConfig`
fields; ``n_steps`` is the binning's number of frames per sample (1 s of audio);
``binning`` overrides other :class:`~spikedeploy.data.shd.BinningConfig` fields (pooling).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ..errors import ConfigError
from .conv import GSC_PAPER, GSC_SMALL, ConvLayerSpec, ConvNetworkConfig
from .networks import NetworkConfig


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    network: NetworkConfig | ConvNetworkConfig
    n_steps: int = 100
    training: Mapping[str, Any] = field(default_factory=dict)
    binning: Mapping[str, Any] = field(default_factory=dict)


# Small presets: chosen by short pilot runs on the default synthetic digits (T = 100, 10 ms
# frames): lr 1e-3 beat 2e-3 for LIF/CUBA-LIF and tied for GPN; LIF dv = 0.4 (tau about
# 25 ms) and CUBA-LIF du = 0.6, dv = 0.4 learnt faster than slower decays, which made the
# CUBA-LIF neurons saturate (see docs/benchmarks.md, "Training accuracy").
_SMALL_TRAIN = {"epochs": 40, "batch_size": 64, "lr": 1e-3, "lr_factor": 0.75, "lr_patience": 3,
                "early_stop_patience": 8}
_GPN_PAPER_SHD = {"epochs": 150, "batch_size": 128, "lr": 5e-4, "lr_factor": 0.75, "lr_patience": 3,
                  "early_stop_patience": 20}
_GPN_PAPER_SSC = {"epochs": 300, "batch_size": 1024, "lr": 1e-3, "lr_factor": 0.75, "lr_patience": 3,
                  "early_stop_patience": 20}

#: s2net's GSC training (Adam here; the paper's RAdam 1e-3), the activity penalty of benchmarks/s2net_gsc.py.
_S2NET_GSC = {"epochs": 30, "batch_size": 64, "lr": 1e-3, "lr_factor": 0.75, "lr_patience": 3,
              "early_stop_patience": 6, "activity_reg": 0.1}

_GPN_NET = dict(neuron="gpn", readout="mean-linear", synapse_bias=True, surrogate="atan")

PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("lif-shd", "700 -> 128 recurrent LIF -> LI readout -> 20 (T = 100)",
           NetworkConfig(hidden=(128,), neuron="lif", recurrent=True, readout="li", dropout=0.1, dv_init=0.4),
           100, _SMALL_TRAIN),
    Preset("cuba-shd", "700 -> 128 recurrent CUBA-LIF -> LI readout -> 20 (T = 100)",
           NetworkConfig(hidden=(128,), neuron="cuba-lif", recurrent=True, readout="li", dropout=0.1,
                         du_init=0.6, dv_init=0.4),
           100, _SMALL_TRAIN),
    Preset("lif-ff-shd", "700 -> 128 feed-forward LIF -> LI readout -> 20 (T = 100)",
           NetworkConfig(hidden=(128,), neuron="lif", recurrent=False, readout="li", dropout=0.1, dv_init=0.4),
           100, _SMALL_TRAIN),
    Preset("gpn-small", "700 -> 128 GPN -> mean-over-time linear -> 20 (T = 100)",
           NetworkConfig(hidden=(128,), dropout=0.25, **_GPN_NET), 100, _SMALL_TRAIN),
    Preset("gpn-hw", "700 -> 128 hardware-friendly GPN (hard-sigmoid / hard-tanh gates, Loihi 2: fold --target "
           "loihi2) -> mean-over-time linear -> 20 (T = 100)",
           NetworkConfig(hidden=(128,), dropout=0.25, gpn_gates="hard", **_GPN_NET), 100, _SMALL_TRAIN),
    Preset("pr-v2-shd", "700 -> 128 Ponghiran & Roy v2 (6-bit outputs, threshold 3) -> LI readout -> 20 (T = 100)",
           NetworkConfig(hidden=(128,), neuron="pr-v2", readout="li", dropout=0.2), 100, _SMALL_TRAIN),
    Preset("s2net-shd", "700 -> 128 s2net dense layer with lateral connections -> LI readout -> 20 (T = 100)",
           NetworkConfig(hidden=(128,), neuron="s2net", lateral=True, surrogate="sigmoid", readout="li",
                         dropout=0.1), 100, _SMALL_TRAIN),
    Preset("s2net-conv-shd", "700 channels pooled to 140 bands -> s2net conv1d x 2 (8 channels each, kernel 5, "
           "dilations 1 and 2, lateral, reset to zero, thresholds >= 0.1) -> LI readout -> 20 (T = 100)",
           ConvNetworkConfig(in_channels=1, bands=140, n_classes=20, conv="conv1d", reset="zero", b_min=0.1,
                             readout="li",
                             layers=(ConvLayerSpec(8, (5,), (1,)), ConvLayerSpec(8, (5,), (2,)))),
           100, {**_SMALL_TRAIN, "lr": 2e-3}, {"pool": 5, "binary": True}),
    Preset("s2net-conv2d-shd", "700 channels pooled to 140 bands -> s2net conv2d x 2 (8 channels each, kernel "
           "(2, 5), dilations (1, 1) and (2, 2): time taps as synaptic delays of 1 and 2 steps; lateral, reset to "
           "zero, thresholds >= 0.1) -> LI readout -> 20 (T = 100)",
           ConvNetworkConfig(in_channels=1, bands=140, n_classes=20, conv="conv2d", reset="zero", b_min=0.1,
                             readout="li",
                             layers=(ConvLayerSpec(8, (2, 5), (1, 1)), ConvLayerSpec(8, (2, 5), (2, 2)))),
           100, _SMALL_TRAIN, {"pool": 5, "binary": True}),
    Preset("s2net-gsc", "s2net paper, GSC: log-Mel + deltas (3 x 40) -> 3 conv2d x 64 (kernel (4, 3), dilations "
           "(1, 1), (4, 3), (16, 9)) -> mean-over-time linear -> 12 classes: 10 words, unknown, silence "
           "(--data GSC_DIR)",
           ConvNetworkConfig(in_channels=3, bands=40, n_classes=12, layers=GSC_PAPER,
                             words=("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")),
           101, _S2NET_GSC),
    Preset("s2net-gsc-small", "GSC layout: log-Mel + deltas -> 2 conv2d x 16 (kernel (4, 3), dilations (1, 1), "
           "(4, 3)) -> mean-over-time linear -> 20 (the synthetic digits; --data GSC_DIR)",
           ConvNetworkConfig(in_channels=3, bands=40, n_classes=20, layers=GSC_SMALL), 101, _S2NET_GSC),
    Preset("gpn-shd", "GPN paper, SHD: 700 -> 1024 GPN -> mean-over-time linear -> 20 (T = 20)",
           NetworkConfig(hidden=(1024,), dropout=0.25, **_GPN_NET), 20, _GPN_PAPER_SHD),
    Preset("gpn-ssc", "GPN paper, SSC: 700 -> 1024 x 3 GPN -> mean-over-time linear -> 35 (T = 60)",
           NetworkConfig(hidden=(1024, 1024, 1024), n_classes=35, dropout=0.25, **_GPN_NET),
           60, _GPN_PAPER_SSC),
)}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; ConfigError listing the valid names otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError("preset", f"unknown preset {name!r}", valid=sorted(PRESETS)) from None
