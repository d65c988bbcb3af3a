"""How spikedeploy reads and writes NIR: the metadata keys and the time discretisation.

Everything another module needs to agree on is defined here once; the full text
with the derivations is ``docs/nir-conventions.md``.

Discrete dynamics (the :class:`~spikedeploy.netspec.NetworkSpec`'s, Loihi's in float)::

    u_t = (1 - du) u_{t-1} + x_t
    v_t = (1 - dv) v_{t-1} + u_t + bias
    s_t = v_t > vth ;  v_t = 0 where s_t

NIR's continuous CubaLIF (``tau_syn I' = -I + w_in S``, ``tau_mem v' = v_leak - v + r I``)
read with forward Euler at step ``dt``, **current first** (the voltage update uses the
current of the same step, as Loihi, Lava and norse do)::

    I_t = (1 - dt/tau_syn) I_{t-1} + (dt/tau_syn) w_in S_t
    v_t = (1 - dt/tau_mem) v_{t-1} + (dt/tau_mem) v_leak + (dt/tau_mem) r I_t

equals the discrete dynamics with ``u = (dt/tau_mem) r I`` and::

    du = dt / tau_syn          dv = dt / tau_mem
    gain = du * w_in * dv * r  (the factor on x_t; 1 in our exports)
    bias = dv * v_leak

so the exporter writes ``tau_syn = dt/du``, ``tau_mem = dt/dv``, ``w_in = 1/du``,
``r = 1/dv``, ``v_leak = bias/dv`` (input gain "neuron", the default), or
``w_in = r = 1`` with the Affine weights divided by ``du * dv`` (input gain
"synapse", for readers such as norse that ignore ``r`` on LIF nodes). LIF/LI are
the ``du = 1`` case (no current state; ``gain = dv * r``); IF/I are ``dv = 0``
(``v' = r I``, so ``v_t = v_{t-1} + dt r x_t``; written with ``r = 1/dt``). A
neuron with ``du = 0`` or with ``dv = 0`` and ``du < 1`` has no forward-Euler NIR
form (``1/du`` or ``1/dv`` would be infinite) and is refused on export.

Continuous parameters are written as float64: ``float32(dt / (dt / d)) == d`` for
every float32 ``d`` (the float64 error is far below half a float32 ulp), so a
re-imported spec has bit-identical float32 arrays.
"""

from __future__ import annotations

import numpy as np

#: Name and version of this convention, stored under :data:`KEY_CONVENTION`.
CONVENTION = "spikedeploy-nir/1"
#: How continuous time is discretised (stored under :data:`KEY_DISCRETISATION`).
DISCRETISATION = "forward-euler, current first"
#: Step assumed for a graph that does not state its dt (seconds).
DEFAULT_DT = 1e-3
#: Where an exported graph puts the input scaling 1/(du dv): "neuron" (w_in, r) or
#: "synapse" (the Affine weights, with w_in = r = 1).
INPUT_GAINS = ("neuron", "synapse")

# -- graph-level metadata keys (graph.metadata[...]) ------------------------------------
#: str, :data:`CONVENTION`; its presence marks a graph written by spikedeploy.
KEY_CONVENTION = "spikedeploy.convention"
#: str, :data:`DISCRETISATION`.
KEY_DISCRETISATION = "spikedeploy.discretisation"
#: float, the step dt in seconds that the continuous parameters were computed with.
KEY_DT = "spikedeploy.dt"
#: str, the NetworkSpec's readout ("last", "mean", "max").
KEY_READOUT = "spikedeploy.readout"
#: str, one of :data:`INPUT_GAINS`.
KEY_INPUT_GAIN = "spikedeploy.input_gain"
#: list of str, the layer names in order (each layer's nodes carry :data:`NODE_KEY_LAYER`).
KEY_LAYERS = "spikedeploy.layers"
#: dict, the NetworkSpec's own ``metadata`` (restored on import).
KEY_SPEC_METADATA = "spikedeploy.spec_metadata"
#: dict, the model/data configuration the network was made with (may be absent).
KEY_CONFIG = "spikedeploy.config"
#: dict, the quantised network's plain-dict form (``LoihiNetwork.to_dict()``; may be absent).
KEY_QUANTIZATION = "spikedeploy.quantization"
#: dict {layer: {field: digest}}: SHA-256 digests (:func:`spikedeploy.hashing.array_digest`) of the
#: float parameters the stored Loihi integers were made from (with :data:`KEY_QUANTIZATION`);
#: a reader refuses the integers when the graph's float parameters no longer match.
KEY_QUANTIZED_FROM = "spikedeploy.quantized_from"
#: The NetworkSpec fields the digests cover.
DIGEST_FIELDS = ("weight", "du", "dv", "vth", "bias", "rec_weight")
#: str, the spikedeploy version that wrote the file.
KEY_WRITER = "spikedeploy.writer"
#: str: the consumer a graph was written for (``export-nir --for``; :mod:`.profiles`). Present only on
#: graphs for another tool, which carry no :data:`KEY_CONVENTION`: our readers refuse to run them.
KEY_PROFILE = "spikedeploy.profile"

# -- node-level metadata keys (node.metadata[...]) ---------------------------------------
#: str, the NetworkSpec layer this node belongs to.
NODE_KEY_LAYER = "spikedeploy.layer"
#: str, the node's role in its layer: one of :data:`ROLES`.
NODE_KEY_ROLE = "spikedeploy.role"
ROLE_SYNAPSE = "synapse"      #: the feed-forward Affine (weight, bias)
ROLE_NEURON = "neuron"        #: the LIF/CubaLIF/IF/LI/CubaLI/I node
ROLE_RECURRENT = "recurrent"  #: the Linear on the edge neuron -> Linear -> neuron
ROLE_DELAY = "delay"          #: a delayed tap's Delay node (spikedeploy.delays)
ROLE_TAP = "tap"              #: a delayed tap's Linear, after its Delay
ROLES = (ROLE_SYNAPSE, ROLE_NEURON, ROLE_RECURRENT, ROLE_DELAY, ROLE_TAP)


def tau_from_decay(decay: np.ndarray, dt: float) -> np.ndarray:
    """Time constant ``dt / decay`` (float64) for a decay in (0, 1]."""
    return float(dt) / np.asarray(decay, dtype=np.float64)


def decay_from_tau(tau: np.ndarray, dt: float) -> np.ndarray:
    """Forward-Euler decay ``dt / tau`` (float64); ``tau = inf`` gives 0."""
    return float(dt) / np.asarray(tau, dtype=np.float64)
