"""NIR export and import: NetworkSpec (+ integers) <-> NIR graphs.

- :mod:`.convention`: the metadata keys and the discrete <-> continuous mapping
  (forward Euler, current first); full text in ``docs/nir-conventions.md``.
- :mod:`.export`: :func:`spec_to_nir`, :func:`write_nir` (atomic, verified by re-import).
- :mod:`.load`: :func:`read_nir`, :func:`nir_to_spec`, :func:`load_nir` and the
  node-converter registry :data:`NODE_CONVERTERS`.
- :mod:`.nirtorch_map`: a node map for ``nirtorch.nir_to_torch`` that runs our
  discrete dynamics (imported on use; needs torch).
"""

from .convention import CONVENTION, DEFAULT_DT, INPUT_GAINS
from .export import spec_to_nir, write_nir
from .load import (NODE_CONVERTERS, NirImportWarning, graph_metadata, load_nir, nir_to_spec, read_config,
                   read_loihi_network, read_nir, read_quantization)

__all__ = ["CONVENTION", "DEFAULT_DT", "INPUT_GAINS", "spec_to_nir", "write_nir", "NODE_CONVERTERS",
           "NirImportWarning", "graph_metadata", "load_nir", "nir_to_spec", "read_config", "read_loihi_network",
           "read_nir", "read_quantization"]
