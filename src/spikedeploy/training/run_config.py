"""What to train, resolved from a preset, a TOML file and command-line overrides.

Precedence: preset < TOML file < explicit overrides. The TOML file::

    preset = "cuba-shd"          # optional base (default: cuba-shd)
    data = "path/to/dir"         # optional: folder with train.h5 and test.h5
    out = "model.pt"             # optional: checkpoint path

    [model]                      # NetworkConfig fields
    hidden = [256]
    neuron = "lif"

    [binning]                    # BinningConfig fields (n_steps = time steps)
    n_steps = 100

    [training]                   # TrainConfig fields
    epochs = 20
    activity_reg = 0.01

Unknown keys or sections raise :class:`~spikedeploy.errors.ConfigError` listing the
valid ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..config import load_toml
from ..data.shd import BinningConfig
from ..errors import ConfigError
from ..models.conv import ConvNetworkConfig
from ..models.networks import NetworkConfig, network_config
from ..models.presets import get_preset
from .config import TrainConfig

DEFAULT_PRESET = "cuba-shd"
_TOP_KEYS = ("preset", "data", "out", "model", "binning", "training")


@dataclass(frozen=True)
class RunConfig:
    preset: str
    network: NetworkConfig | ConvNetworkConfig
    binning: Any  # spikedeploy.data.shd.BinningConfig
    training: TrainConfig
    data_dir: Path | None = None
    out: Path | None = None

    @classmethod
    def resolve(cls, *, preset: str | None = None, config_file: str | Path | None = None,
                model: Mapping[str, Any] | None = None, binning: Mapping[str, Any] | None = None,
                training: Mapping[str, Any] | None = None, data_dir: str | Path | None = None,
                out: str | Path | None = None, hidden_size: int | None = None) -> "RunConfig":
        """Combine preset, file and overrides (each override mapping holds only the fields to set).
        ``hidden_size`` sets every hidden layer to that size (after the other model settings)."""
        doc: dict[str, Any] = {}
        if config_file is not None:
            doc = load_toml(config_file)
            unknown = sorted(set(doc) - set(_TOP_KEYS))
            if unknown:
                raise ConfigError(str(config_file), f"unknown key(s) or section(s) {', '.join(unknown)}",
                                  valid=_TOP_KEYS)
            for section in ("model", "binning", "training"):
                if section in doc and not isinstance(doc[section], dict):
                    raise ConfigError(f"{config_file} [{section}]", "must be a table ([section] header)")
        name = preset or doc.get("preset") or DEFAULT_PRESET
        base = get_preset(name)

        net = {**base.network.to_dict(), **doc.get("model", {}), **(model or {})}
        if hidden_size is not None:
            if "hidden" not in net:
                raise ConfigError("--hidden", f"preset {name!r} has convolutional layers, not hidden sizes",
                                  remedy="set the layers' channels in the [model] table of a config file")
            layers = net["hidden"] if isinstance(net["hidden"], (list, tuple)) else [net["hidden"]]
            net["hidden"] = [hidden_size] * len(layers)
        bins = {**BinningConfig(n_steps=base.n_steps).to_dict(), **dict(base.binning), **doc.get("binning", {}),
                **(binning or {})}
        train = {**TrainConfig().to_dict(), **dict(base.training), **doc.get("training", {}), **(training or {})}
        data = data_dir if data_dir is not None else doc.get("data")
        dest = out if out is not None else doc.get("out")
        return cls(preset=name, network=network_config(net), binning=BinningConfig.from_dict(bins),
                   training=TrainConfig.from_dict(train), data_dir=None if data is None else Path(data),
                   out=None if dest is None else Path(dest))

    def to_dict(self) -> dict[str, Any]:
        return {"preset": self.preset, "model": self.network.to_dict(), "binning": self.binning.to_dict(),
                "training": self.training.to_dict(),
                "data": None if self.data_dir is None else str(self.data_dir),
                "out": None if self.out is None else str(self.out)}
