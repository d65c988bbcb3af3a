"""What a network costs: spikes, firing rates, SynOps (NeuroBench's rules), neuron
updates, activation sparsity, energy estimates and measured GPU energy.

Every metric takes plain tensors (torch or numpy) and counts exact integers;
:func:`count_run` counts a whole run with the same code for every backend.
See docs/metrics.md.
"""

from .activity import (ActivationSparsity, ActivationSparsityResult, LayerNeuronUpdates,
                       LayerSparsity, LayerSpikes, NeuronUpdates, NeuronUpdatesResult,
                       SpikeCount, SpikeCountResult, active_neurons)
from .energy import (EnergyEstimate, LayerEnergy, OperationEnergy, estimate_energy,
                     operation_energy)
from .nvml import GpuEnergyMeasurement, gpu_energy_status, measure_gpu_energy
from .records import LayerRow, LayerWeights, RunCounts, layers_from_model, layers_of
from .run_counts import RunCounter, count_run
from .synops import LayerSynOps, SynapticOperations, SynOpsResult, gpn_layer_ops

__all__ = [
    "ActivationSparsity", "ActivationSparsityResult", "EnergyEstimate", "GpuEnergyMeasurement",
    "LayerEnergy", "LayerNeuronUpdates", "LayerRow", "LayerSparsity", "LayerSpikes",
    "LayerSynOps", "LayerWeights", "NeuronUpdates", "NeuronUpdatesResult", "OperationEnergy",
    "RunCounter", "RunCounts", "SpikeCount", "SpikeCountResult", "SynOpsResult",
    "SynapticOperations", "active_neurons", "count_run", "estimate_energy", "gpn_layer_ops",
    "gpu_energy_status", "layers_from_model", "layers_of", "measure_gpu_energy", "operation_energy",
]
