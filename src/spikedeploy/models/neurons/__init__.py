"""Neuron populations: parameters + state + a pure step function + a thin module.

- :mod:`.lif`: LIF and CUBA-LIF in Loihi's discrete form (parametric, optional recurrence)
- :mod:`.gpn`: the gated parametric neuron (GPN)
- :mod:`.li`: the non-spiking leaky integrator (readout)
- :mod:`.pr_rnn`: Ponghiran & Roy's improved inherent recurrence v2 (multi-bit outputs)
- :mod:`.s2net`: s2net's dense spiking layer with Deneve lateral connections
"""

from .base import NeuronPopulation
from .gpn import GPN, GPNParameters, GPNState, gpn_step
from .li import LeakyIntegrator, LIParameters, LIState, li_step
from .lif import LIF, CubaLIF, CubaLIFParameters, CubaLIFState, cuba_lif_step, lif_step
from .pr_rnn import PRv2, PRv2Parameters, PRv2State, pr_v2_step, quantize
from .s2net import S2NetLIF, S2NetParameters, S2NetState, s2net_step

__all__ = ["NeuronPopulation", "LIF", "CubaLIF", "CubaLIFParameters", "CubaLIFState", "cuba_lif_step",
           "lif_step", "GPN", "GPNParameters", "GPNState", "gpn_step", "LeakyIntegrator", "LIParameters",
           "LIState", "li_step", "PRv2", "PRv2Parameters", "PRv2State", "pr_v2_step", "quantize", "S2NetLIF",
           "S2NetParameters", "S2NetState", "s2net_step"]
