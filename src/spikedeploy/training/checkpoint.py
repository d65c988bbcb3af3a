"""Checkpoints: tensors and plain data only, loadable with ``torch.load(weights_only=True)``.

A checkpoint is one ``torch.save`` file holding a dict (format in
docs/checkpoint-format.md)::

    format          "spikedeploy-checkpoint"
    format_version  1
    model_config    NetworkConfig.to_dict(): rebuilds the model on its own
    state_dict      {name: tensor} of the model (CPU tensors)
    binning         BinningConfig.to_dict() of the data it was trained on, or None
    training        TrainConfig.to_dict(), or None
    metrics         plain dict (history, best validation / test accuracy, firing rates)
    seed            int or None
    versions        {"spikedeploy", "torch", "numpy", "python"}
    created         ISO 8601 time (UTC)
    extra           plain dict (preset name, data set description, ...)

:func:`save_checkpoint` writes it atomically; :func:`load_checkpoint` reads it with
``weights_only=True`` and rebuilds the model, raising
:class:`~spikedeploy.errors.CheckpointError` for a missing file, a file that is not
a checkpoint, a pickle that would run code, a missing or unknown model config, and
a state dict that belongs to another architecture.
"""

from __future__ import annotations

import datetime as _dt
import pickle
import platform
import re
from pathlib import Path
from typing import Any, Mapping

import numpy
import torch

from .. import __version__
from ..atomic import atomic_path
from ..data.shd import BinningConfig
from ..errors import CheckpointError, ConfigError, ForeignModelError
from ..foreign import suggestion
from ..foreign.load import unwrap as state_dict_in
from ..models.conv import ConvNetworkConfig, ConvSpikingNetwork
from ..models.networks import NetworkConfig, SpikingNetwork, build_network, network_config
from ..models.to_spec import model_to_spec
from ..netspec import NetworkSpec

FORMAT = "spikedeploy-checkpoint"
FORMAT_VERSION = 1

_REMEDY_RETRAIN = "train a model with `spikedeploy train ... --out model.pt`"


def _versions() -> dict[str, str]:
    return {"spikedeploy": str(__version__), "torch": str(torch.__version__), "numpy": str(numpy.__version__),
            "python": platform.python_version()}


def _plain(obj: Any, where: str) -> Any:
    """Check that ``obj`` is plain data (what weights_only loading accepts); tuples -> lists."""
    if obj is None or isinstance(obj, bool):
        return obj
    for kind in (int, float, str):  # subclasses (TorchVersion, IntEnum...) become the plain type
        if isinstance(obj, kind):
            return kind(obj)
    if isinstance(obj, (list, tuple)):
        return [_plain(v, where) for v in obj]
    if isinstance(obj, Mapping):
        return {str(k): _plain(v, where) for k, v in obj.items()}
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return obj.item()
    raise TypeError(f"{where}: {type(obj).__name__} is not plain data (use dicts, lists, numbers, strings)")


def unwrap(model: torch.nn.Module) -> SpikingNetwork | ConvSpikingNetwork:
    """The network inside a DistributedDataParallel/DataParallel wrapper (or itself): a
    SpikingNetwork, or s2net's ConvSpikingNetwork (trained by the same loop, not checkpointed yet)."""
    inner = getattr(model, "module", model)
    if not isinstance(inner, (SpikingNetwork, ConvSpikingNetwork)):
        raise TypeError(f"expected a SpikingNetwork, got {type(inner).__name__}")
    return inner


def checkpoint_dict(model: torch.nn.Module, *, binning: Any = None, training: Any = None,
                    metrics: Mapping[str, Any] | None = None, seed: int | None = None,
                    extra: Mapping[str, Any] | None = None,
                    state_dict: Mapping[str, torch.Tensor] | None = None) -> dict[str, Any]:
    """The checkpoint as a dict (``state_dict`` overrides the model's current weights)."""
    net = unwrap(model)
    sd = net.state_dict() if state_dict is None else state_dict
    to_dict = lambda c: None if c is None else (c.to_dict() if hasattr(c, "to_dict") else dict(c))  # noqa: E731
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_config": net.config.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in sd.items()},
        "binning": _plain(to_dict(binning), "binning"),
        "training": _plain(to_dict(training), "training"),
        "metrics": _plain(dict(metrics or {}), "metrics"),
        "seed": None if seed is None else int(seed),
        "versions": _versions(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "extra": _plain(dict(extra or {}), "extra"),
    }


def save_checkpoint(path: str | Path, model: torch.nn.Module, **kwargs: Any) -> Path:
    """Write ``model`` (and the metadata in ``kwargs``, see :func:`checkpoint_dict`) to
    ``path`` atomically; returns the path."""
    ckpt = checkpoint_dict(model, **kwargs)
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)
    return Path(path)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and validate the checkpoint dict (weights only; no model is built)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "file not found" if not path.exists() else "not a file",
                              remedy=_REMEDY_RETRAIN)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise _unpickling_error(path, str(err)) from None
    except Exception as err:  # noqa: BLE001 - random bytes fail in many ways (EOFError, KeyError, ...)
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CheckpointError(path, f"not a PyTorch checkpoint ({first})", remedy=_REMEDY_RETRAIN) from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise _not_ours(path, obj)
    version = obj.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise CheckpointError(path, f"format_version {version!r} is not supported (this spikedeploy "
                                    f"reads 1..{FORMAT_VERSION})", remedy="upgrade spikedeploy")
    for key in ("model_config", "state_dict"):
        if not isinstance(obj.get(key), dict):
            raise CheckpointError(path, f"the {key!r} entry is missing or not a dict", remedy=_REMEDY_RETRAIN)
    return obj


def _not_ours(path: Path, obj: Any) -> CheckpointError:
    """A file that torch loads but that is no spikedeploy checkpoint: for a state dict, which
    foreign layout it matches and the ``--from`` to read it with (:mod:`spikedeploy.foreign`)."""
    try:
        tensors = state_dict_in(obj, path)
    except ForeignModelError:
        return CheckpointError(path, f"not a spikedeploy checkpoint (no 'format': {FORMAT!r} entry)",
                               remedy=_REMEDY_RETRAIN)
    return CheckpointError(path, f"not a spikedeploy checkpoint but a bare state dict: {suggestion(tensors, path)}",
                           remedy="convert it (spikedeploy convert FILE --from NAME -o model.pt), or give "
                                  "--from NAME to export-nir / quantize / fold")


def _unpickling_error(path: Path, msg: str) -> CheckpointError:
    """Why ``torch.load(weights_only=True)`` refused the file: it holds objects that would run code
    (torch names their class: "Unsupported class ..." / "Unsupported global ..."), or it is no
    torch file at all (random bytes fail on the first pickle opcode: "Unsupported operand ...")."""
    found = re.search(r"Unsupported (?:class|global):? (?:GLOBAL )?([\w.]+)", msg)
    if found:
        name = found.group(1)
        module = name.startswith(("torch.nn.", "spikedeploy.models."))      # nn.Module classes we know
        what = "a whole pickled torch module" if module else "Python objects"
        return CheckpointError(path, f"refused: the file holds {what} ({name}) that would run code when loaded "
                                     "(only tensors and plain data are accepted)",
                               remedy="only load checkpoints you trust; save the weights alone "
                                      "(torch.save(model.state_dict(), path)) or with "
                                      "spikedeploy.training.save_checkpoint")
    detail = msg.split("WeightsUnpickler error:")[-1].strip().splitlines()[0] if msg else "unpickling failed"
    return CheckpointError(path, f"not a torch checkpoint: neither a torch zip archive nor a pickle ({detail})",
                           remedy=_REMEDY_RETRAIN)


def config_from_checkpoint(path: str | Path, ckpt: Mapping[str, Any]) -> NetworkConfig | ConvNetworkConfig:
    try:
        return network_config(ckpt["model_config"])
    except (ConfigError, TypeError) as err:
        raise CheckpointError(path, f"unknown model config ({err})",
                              remedy="the checkpoint was written by another spikedeploy version or edited; "
                                     "retrain or use the matching version") from None


def load_state(path: str | Path, model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor]) -> None:
    """``model.load_state_dict(state_dict)`` with architecture mismatches as CheckpointError."""
    net = unwrap(model)
    own = net.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    wrong = sorted(k for k in set(own) & set(state_dict)
                   if not isinstance(state_dict[k], torch.Tensor) or tuple(state_dict[k].shape) != tuple(own[k].shape))
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
        if wrong:
            parts.append("shape differs for " + ", ".join(
                f"{k} ({tuple(state_dict[k].shape) if isinstance(state_dict[k], torch.Tensor) else '?'} vs "
                f"{tuple(own[k].shape)})" for k in wrong[:5]))
        raise CheckpointError(path, "the weights belong to another architecture: " + "; ".join(parts),
                              remedy="load it with the model config stored in the same checkpoint "
                                     "(load_checkpoint), or retrain")
    net.load_state_dict(state_dict, strict=True)


def load_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu",
                    expect: NetworkConfig | None = None) -> tuple[SpikingNetwork, dict[str, Any]]:
    """Rebuild the model from the checkpoint's config alone and load its weights.

    Returns ``(model, meta)`` with the model in evaluation mode; ``meta`` is the
    checkpoint dict without ``state_dict``, with ``model_config`` as a
    :class:`NetworkConfig` and ``binning`` as a ``BinningConfig`` (when present).
    ``expect``: raise CheckpointError unless the stored config equals it.
    """
    ckpt = read_checkpoint(path)
    config = config_from_checkpoint(path, ckpt)
    if expect is not None and config != expect:
        diff = {k: (v, getattr(config, k)) for k, v in expect.to_dict().items()
                if config.to_dict().get(k) != v}
        raise CheckpointError(path, f"the checkpoint is another architecture than expected "
                                    f"(field: (expected, found) {diff})",
                              remedy="use the checkpoint of this model, or build the model from the checkpoint")
    model = build_network(config)
    load_state(path, model, ckpt["state_dict"])
    model.to(map_location).eval()
    meta = {k: v for k, v in ckpt.items() if k != "state_dict"}
    meta["model_config"] = config
    if ckpt.get("binning") is not None:
        try:
            meta["binning"] = BinningConfig.from_dict(ckpt["binning"])
        except ConfigError as err:
            raise CheckpointError(path, f"invalid binning config ({err})", remedy=_REMEDY_RETRAIN) from None
    return model, meta


def checkpoint_to_spec(path: str | Path, *, metadata: Mapping[str, Any] | None = None
                       ) -> tuple[NetworkSpec, SpikingNetwork, dict[str, Any]]:
    """Load a checkpoint (``weights_only``) and read it: ``(spec, model, meta)``.

    ``dt`` comes from the checkpoint's binning (``duration / n_steps``) when it has one.
    The spec's metadata records the checkpoint's preset and binning. Errors are the
    checkpoint loader's (:class:`~spikedeploy.errors.CheckpointError`) and
    :func:`model_to_spec`'s; NaN/inf weights are a CheckpointError naming the file and tensor.
    """
    model, meta = load_checkpoint(path)
    if isinstance(model, ConvSpikingNetwork):
        raise CheckpointError(path, "holds s2net's convolutional network, which this step does not take "
                                    "(export-nir deploys conv1d networks with reset 'zero' through their dense "
                                    "form, docs/s2net-conv.md)",
                              remedy="export it with export-nir, or train a dense s2net (preset s2net-shd)")
    binning = meta.get("binning")
    dt = None if binning is None else float(binning.dt)
    extra: dict[str, Any] = {"checkpoint": Path(path).name}
    if binning is not None:
        extra["binning"] = binning.to_dict()
    preset = (meta.get("extra") or {}).get("preset")
    if preset is not None:
        extra["preset"] = preset
    extra.update(dict(metadata or {}))
    for key, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise CheckpointError(path, f"non-finite parameters: {bad} NaN or inf value(s) in {key!r}",
                                  remedy="retrain or repair the model; NaN/inf weights cannot be deployed")
    return model_to_spec(model, dt=dt, metadata=extra), model, meta
