"""Training: the loop (:mod:`.loop`), losses (:mod:`.losses`), settings (:mod:`.config`),
weights-only checkpoints (:mod:`.checkpoint`) and torchrun/DDP support (:mod:`.distributed`)."""

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .loop import FitResult, TensorData, TrainResult, evaluate, fit, run_training

__all__ = ["CheckpointError", "load_checkpoint", "save_checkpoint", "TrainConfig", "FitResult", "TensorData",
           "TrainResult", "evaluate", "fit", "run_training"]
