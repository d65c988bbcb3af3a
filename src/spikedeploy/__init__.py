"""spikedeploy: spiking audio networks from PyTorch to Loihi-class hardware.

Pipeline stages, one subpackage each: ``data`` (SHD/SSC/GSC readers, cochlea,
synthetic digits), ``models`` (neurons, networks), ``training``, ``quant``
(Loihi fixed point, emulator, GPN folding), ``nir_io`` (NIR export/import),
``lava_backend`` (Lava processes; the only part that imports Lava),
``metrics`` (SynOps, firing rates, energy, reports) and ``cli``.

Importing the package imports nothing heavy: every stage is imported on use.
"""

__version__ = "0.1.0"
