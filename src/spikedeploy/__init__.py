"""spikedeploy: spiking audio networks from PyTorch to Loihi-class hardware.

Floors, lowest first (docs/architecture.md): the base modules (``errors``, ``atomic``,
``paths``, ``config``, ``hardware``, ``hashing``, ``netspec``), ``data`` (SHD/SSC/GSC
readers, cochlea, synthetic digits), ``models`` (neurons, networks), ``foreign`` (models
trained with other tools' code and libraries), ``training``, ``quant`` (Loihi fixed point,
integer network, emulator, PTQ, QAT), ``fold`` (GPN, s2net, pr-v2 and converted-LIF folds),
``nir_io`` (NIR export/import), ``metrics`` (SynOps, firing rates, energy, reports),
``lava_backend`` (Lava processes; the only part that imports Lava), ``stages`` (train,
convert, fold, export, lava-run, compare, pipeline), ``api`` and ``cli``.

The Python API (:mod:`spikedeploy.api`) is importable from here: ``load_model``,
``simulate``, ``convert``, ``from_module``, ``save_model``, ``fold``, ``export_nir``,
``run_lava``, ``compare``. Importing the package imports nothing heavy: the API (and
torch with it) loads on first use.

``spikedeploy.fold`` is the API's function, although a subpackage has that name too: the
subpackage is imported as usual (``from spikedeploy.fold import FoldConfig``, which reads
``sys.modules``), but the import system's binding of it as a package attribute is skipped.
"""

import sys
import types

__version__ = "0.1.0"

#: The public API, loaded from spikedeploy.api on first access.
API = ("load_model", "simulate", "convert", "from_module", "save_model", "fold", "export_nir", "run_lava",
       "compare", "Simulation")


def __getattr__(name: str):
    if name in API:
        from . import api  # noqa: PLC0415 - lazy: `import spikedeploy` stays free of torch

        return getattr(api, name)
    raise AttributeError(f"module 'spikedeploy' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *API])


class _Package(types.ModuleType):
    """The package module: a subpackage named like an API function (``fold``) is not bound over it."""

    def __setattr__(self, name: str, value: object) -> None:
        if name in API and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
