"""Loihi fixed point: the integer reference (``fixed_point``), the integer network
(``loihi_network``), the bit-exact emulator (``emulator``), and the quantiser and
GPN folding that produce integer networks. Modules are imported on use."""
