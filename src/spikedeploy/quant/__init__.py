"""Loihi fixed point: the integer reference (``fixed_point``), the integer network
(``loihi_network``), the bit-exact emulator (``emulator``), post-training quantisation
(``ptq``) and quantisation-aware fine-tuning (``qat``). Modules are imported on use."""
