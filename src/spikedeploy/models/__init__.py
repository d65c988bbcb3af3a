"""Spiking models: neurons (:mod:`.neurons`), surrogate gradients (:mod:`.surrogate`),
readouts (:mod:`.readout`), the network builder (:mod:`.networks`) and presets
(:mod:`.presets`). See :mod:`spikedeploy.models.networks` for how to read a network's
structure from outside."""

from .networks import NEURON_BUILDERS, HiddenLayer, NetworkConfig, SpikingNetwork, build_network
from .presets import PRESETS, Preset, get_preset
from .surrogate import SURROGATES, make_surrogate

__all__ = ["NEURON_BUILDERS", "HiddenLayer", "NetworkConfig", "SpikingNetwork", "build_network",
           "PRESETS", "Preset", "get_preset", "SURROGATES", "make_surrogate"]
