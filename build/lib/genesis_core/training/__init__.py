"""Framework-free, resumable training loops (pre-training and fine-tuning).

Imports only torch and numpy. Tensors are (N, C, D, H, W), see :mod:`genesis_core.axes`.
Tracking goes to a :class:`MetricsSink`; data comes from a :class:`CubeReader` or a
:class:`PairReader`; the corruption function is injected (no dependency on transforms).
"""

from genesis_core.training.checkpoint import latest_checkpoint, load_checkpoint, save_atomic
from genesis_core.training.config import FinetuneConfig, LoopConfig, PretrainConfig
from genesis_core.training.finetune import finetune
from genesis_core.training.loader import BatchLoader, DataPosition, epoch_permutation
from genesis_core.training.loop import LoopTask, TrainingLoop
from genesis_core.training.losses import bce_with_logits_loss, mse_loss, soft_dice_loss
from genesis_core.training.pretrain import train
from genesis_core.training.readers import ArrayCubeReader, ArrayPairReader, CubeReader, PairReader
from genesis_core.training.sinks import ListSink, MetricsSink, NullSink
from genesis_core.training.state import LoopState, TrainResult

__all__ = [
    "ArrayCubeReader",
    "ArrayPairReader",
    "BatchLoader",
    "CubeReader",
    "DataPosition",
    "FinetuneConfig",
    "ListSink",
    "LoopConfig",
    "LoopState",
    "LoopTask",
    "MetricsSink",
    "NullSink",
    "PairReader",
    "PretrainConfig",
    "TrainResult",
    "TrainingLoop",
    "bce_with_logits_loss",
    "epoch_permutation",
    "finetune",
    "latest_checkpoint",
    "load_checkpoint",
    "mse_loss",
    "save_atomic",
    "soft_dice_loss",
    "train",
]
