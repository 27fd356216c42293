"""Networks of the Genesis pipeline: the Models Genesis 3D U-Net and its heads.

Imports only torch. Tensors are (N, C, D, H, W), see :mod:`genesis_core.axes`.
"""

from genesis_core.models.classifier import ClassificationHead, UNet3DClassifier
from genesis_core.models.reference_weights import (
    LoadReport,
    load_reference_weights,
    read_state_dict,
)
from genesis_core.models.unet3d import (
    GenesisBatchNorm3d,
    UNet3D,
    UNet3DConfig,
    count_parameters,
    set_bn_always_batch_stats,
)

__all__ = [
    "ClassificationHead",
    "GenesisBatchNorm3d",
    "LoadReport",
    "UNet3D",
    "UNet3DClassifier",
    "UNet3DConfig",
    "count_parameters",
    "load_reference_weights",
    "read_state_dict",
    "set_bn_always_batch_stats",
]
