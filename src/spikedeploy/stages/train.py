"""The train stage: a resolved run configuration -> a trained checkpoint (``spikedeploy train``).

:func:`train` trains the network of a :class:`~spikedeploy.training.run_config.RunConfig`
on ``DIR/train.h5`` (a stratified validation split held out) and tests it on
``DIR/test.h5`` with :func:`spikedeploy.training.loop.run_training` (under torchrun:
DistributedDataParallel), writing a weights-only checkpoint. A DIR in Google Speech
Commands' layout (it holds ``testing_list.txt``) gives its log-Mel features and its own
validation and testing lists instead (:mod:`spikedeploy.training.gsc_data`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from ..atomic import check_outputs
from ..data.gsc import is_gsc_folder
from ..data.shd import count_samples
from ..training.gsc_data import GSC_FRAMES, gsc_sample_count
from ..memory import require
from ..paths import default_data_dir
from ..training.loop import TrainResult, run_training
from ..training.memory import describe, training_memory
from ..training.run_config import RunConfig


@dataclass(frozen=True)
class TrainOptions:
    """What to train and where.

    run       network, binning and training settings (preset < TOML file < overrides)
    data_dir  folder with train.h5 and test.h5 (None: ``run.data_dir``, else the built-in data set)
    out       the checkpoint to write (None: ``run.out``, else ``model.pt``)
    device    ``auto`` (CUDA when available), ``cpu``, ``cuda[:N]``
    threads   torch CPU threads (None: torch's own choice)
    extra     plain data recorded in the checkpoint (``extra``), beside the preset and the run
    config_file  the TOML file ``run`` was read from, if any (never written over)
    """

    run: RunConfig
    data_dir: Path | None = None
    out: Path | None = None
    device: str = "auto"
    threads: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    config_file: Path | None = None
    progress: bool = True


def train(options: TrainOptions, log: Callable[[str], None] | None = None) -> TrainResult:
    """Train and test the network; write the checkpoint (module docstring)."""
    run = options.run
    if options.threads:
        torch.set_num_threads(options.threads)
    data_dir = Path(options.data_dir or run.data_dir or default_data_dir())
    out = options.out or run.out or Path("model.pt")
    gsc = is_gsc_folder(data_dir)
    inputs = {"GSC folder": data_dir} if gsc else {"training data": data_dir / "train.h5",
                                                   "test data": data_dir / "test.h5"}
    check_outputs({"checkpoint (--out)": out}, {**inputs, "configuration (--config)": options.config_file})
    n_samples = (gsc_sample_count(data_dir) if gsc else
                 count_samples(data_dir / "train.h5") + count_samples(data_dir / "test.h5"))
    n_steps = GSC_FRAMES if gsc else run.binning.n_steps
    require(training_memory(run.network, n_steps, run.training.batch_size, n_samples),
            "--time-steps / --hidden / --batch-size", remedy=describe(run))
    extra = {"preset": run.preset, "run": run.to_dict(), **dict(options.extra)}
    return run_training(run.network, run.binning, run.training, data_dir, out, device=options.device,
                        progress=options.progress, extra=extra, log=log)


__all__ = ["RunConfig", "TrainOptions", "TrainResult", "train"]
