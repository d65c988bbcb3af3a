"""A tiny network whose counts are worked out by hand (docs/metrics.md, "Hand count").

Input x [B=2, T=3, 3] with graded values in sample 1; hidden layer "h" (2 LIF
neurons, recurrent) with given spikes; non-spiking readout "out" (2 neurons).
Weights contain zeros. The expected numbers below are counted by hand from the
definitions (not by the code under test).
"""

import torch

X = torch.tensor([
    [[1, 0, 0], [0, 1, 1], [0, 0, 0]],            # sample 0: binary
    [[2, 0, 1], [1, 0, -1], [0.5, 0, 0]],         # sample 1: graded at t = 0 and t = 2
], dtype=torch.float32)
W1 = torch.tensor([[1.0, 0.0, 0.5],
                   [0.0, -2.0, 0.25]])             # non-zeros per input column: 1, 1, 2
R = torch.tensor([[0.0, 1.0],
                  [0.5, 0.0]])                     # non-zeros per column: 1, 1
W2 = torch.tensor([[0.0, 3.0],
                   [1.0, 1.0]])                    # non-zeros per column: 1, 2
S = torch.tensor([
    [[1, 0], [0, 1], [1, 1]],
    [[0, 0], [1, 1], [0, 1]],
], dtype=torch.float32)
DT = 1e-3

# --- expected, per sample (means over the 2 samples) --------------------------------
# h feed-forward, decide per sample-step: s0 ACs 1 + 3 + 0 = 4; s1 MACs 3 (t0) + 1 (t2),
# ACs 3 (t1). Recurrent (reads S[t-1]): s0 1 + 1 = 2, s1 0 + 2 = 2 (all ACs).
H_ACS_PER_SAMPLE = (6, 5)
H_MACS_PER_SAMPLE = (0, 4)
H_DENSE = 3 * (3 * 2) + 3 * (2 * 2)               # 30 per sample
# decide per batch-step (NeuroBench stepping a batch): t0 and t2 are MAC steps for both.
H_ACS_BATCH_STEP = (3 + 2, 3 + 2)                 # s0: t1 only (3) + rec 2; s1: t1 (3) + rec 2
H_MACS_BATCH_STEP = (1, 4)                        # s0: t0 (1); s1: t0 (3) + t2 (1)
# readout reads S: s0 1 + 2 + 3 = 6, s1 0 + 3 + 2 = 5
OUT_ACS_PER_SAMPLE = (6, 5)
OUT_DENSE = 3 * (2 * 2)                           # 12 per sample
# spikes of h: s0 4, s1 3 over 2 x 3 x 2 = 12 neuron-steps
H_SPIKES_PER_SAMPLE = (4, 3)
H_ZEROS, H_OUTPUTS = 5, 12
# active neuron updates (input events, no state): h 4 + 6 = 10 of 12; out 5 + 4 = 9 of 12
H_ACTIVE_PER_SAMPLE = (4, 6)
OUT_ACTIVE_PER_SAMPLE = (5, 4)
# a (u, v) state trace for h that is non-zero for neuron 1 after t = 1 in sample 0
# (its v was reset by the spike, its u was not) makes s0 t2 n1 active too: 11 of 12.
H_U = torch.zeros(2, 3, 2)
H_U[0, 1, 1] = 0.3
H_V = torch.zeros(2, 3, 2)
H_ACTIVE_WITH_STATE = (5, 6)
