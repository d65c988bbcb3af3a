"""spikedeploy: spiking audio networks from PyTorch to Loihi-class hardware.

Floors, lowest first (docs/architecture.md): the base modules (``errors``, ``atomic``,
``paths``, ``config``, ``hardware``, ``hashing``, ``netspec``), ``data`` (SHD/SSC/GSC
readers, cochlea, synthetic digits), ``models`` (neurons, networks), ``training``,
``quant`` (Loihi fixed point, integer network, emulator, PTQ, QAT), ``fold`` (GPN, s2net
and pr-v2 folds), ``nir_io`` (NIR export/import), ``metrics`` (SynOps, firing rates,
energy, reports), ``lava_backend`` (Lava processes; the only part that imports Lava),
``stages`` (train, fold, export, lava-run, compare, pipeline) and ``cli``.

Importing the package imports nothing heavy: every floor is imported on use.
"""

__version__ = "0.1.0"
