"""Configuration files: TOML reading and frozen-dataclass (de)serialisation.

Every configuration in spikedeploy is a frozen dataclass with ``to_dict`` /
``from_dict`` so that it can be written into each artefact it produced
(checkpoints, NIR metadata, reports). The helpers here do the common part:

- :func:`load_toml` reads a TOML file (``tomllib`` on Python >= 3.11, ``tomli``
  before), turning every problem into a :class:`~spikedeploy.errors.ConfigError`
  that names the file;
- :func:`dataclass_from_dict` builds a dataclass from a mapping, refusing unknown
  keys (listing the valid ones) and turning lists into tuples where the field's
  default is a tuple;
- :func:`dataclass_to_dict` is the inverse: plain data only (tuples become lists,
  so the result is TOML/JSON friendly and loads with ``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any, Mapping, TypeVar

from .errors import ConfigError

T = TypeVar("T")


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file into a dict; ConfigError if it is missing or not valid TOML."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - depends on the interpreter
        import tomli as tomllib
    path = Path(path)
    if not path.is_file():
        raise ConfigError(str(path), "configuration file not found",
                          remedy="check the path given to --config")
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(str(path), f"not valid TOML ({err})",
                          remedy="see https://toml.io for the syntax") from None


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def dataclass_to_dict(obj: Any) -> dict[str, Any]:
    """All fields of a dataclass instance as plain data (tuples become lists)."""
    return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}


def dataclass_from_dict(cls: type[T], data: Mapping[str, Any], *, section: str = "") -> T:
    """``cls(**data)`` with unknown keys refused (ConfigError naming ``section`` and listing
    the valid keys); a list is turned into a tuple where the field's default is a tuple."""
    if not isinstance(data, Mapping):
        raise ConfigError(section or cls.__name__, f"expected a table of settings, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(section or cls.__name__, f"unknown setting(s) {', '.join(map(str, unknown))}",
                          valid=sorted(fields))
    kwargs = {}
    for name, value in data.items():
        f = fields[name]
        if isinstance(value, list) and isinstance(f.default, tuple):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)
