"""Neuron populations: parameters + state + a pure step function + a thin module.

- :mod:`.lif`: LIF and CUBA-LIF in Loihi's discrete form (parametric, optional recurrence)
- :mod:`.gpn`: the gated parametric neuron (GPN)
- :mod:`.li`: the non-spiking leaky integrator (readout)
"""

from .base import NeuronPopulation
from .gpn import GPN, GPNParameters, GPNState, gpn_step
from .li import LeakyIntegrator, LIParameters, LIState, li_step
from .lif import LIF, CubaLIF, CubaLIFParameters, CubaLIFState, cuba_lif_step, lif_step

__all__ = ["NeuronPopulation", "LIF", "CubaLIF", "CubaLIFParameters", "CubaLIFState", "cuba_lif_step",
           "lif_step", "GPN", "GPNParameters", "GPNState", "gpn_step", "LeakyIntegrator", "LIParameters",
           "LIState", "li_step"]
