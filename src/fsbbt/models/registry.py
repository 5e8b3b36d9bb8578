"""Network name → constructor. A new architecture is one entry here."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import nn

from fsbbt.core.errors import FsbbtError
from fsbbt.models.alexnet import AlexNet
from fsbbt.models.cvae_conv import ConvCvae
from fsbbt.models.cvae_mlp import MlpCvae
from fsbbt.models.init import keras_initialise
from fsbbt.models.lenet import LeNet5
from fsbbt.models.resnet import CifarResNet

ClassifierFactory = Callable[[tuple[int, int, int], int], nn.Module]


def _lenet(filters: tuple[int, int], input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    channels, height, width = input_shape
    if height != width:
        raise FsbbtError(f"LeNet5 needs square images, got {height}×{width}; resize them")
    return LeNet5(channels, num_classes, height, filters)


def _alexnet(
    filters: tuple[int, int, int, int, int],
    dense: tuple[int, int],
    input_shape: tuple[int, int, int],
    num_classes: int,
) -> nn.Module:
    channels, height, width = input_shape
    if height != width or height < 23:
        raise FsbbtError(
            f"AlexNet needs square images of at least 23×23 (three 3/2 pools), "
            f"got {height}×{width}; resize them"
        )
    return AlexNet(channels, num_classes, height, filters, dense)


def _resnet(blocks_per_stage: int, input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    return CifarResNet(input_shape[0], num_classes, blocks_per_stage)


def _conv_cvae(input_shape: tuple[int, int, int], num_classes: int, latent_dim: int) -> nn.Module:
    try:
        return ConvCvae(input_shape, num_classes, latent_dim)
    except ValueError as exc:
        raise FsbbtError(f"{exc}; use cvae.kind=mlp for these images") from exc


CLASSIFIERS: dict[str, ClassifierFactory] = {
    "lenet5": partial(_lenet, (6, 16)),
    "lenet5-half": partial(_lenet, (3, 8)),
    "alexnet": partial(_alexnet, (48, 128, 192, 192, 128), (512, 256)),
    "alexnet-half": partial(_alexnet, (24, 64, 96, 96, 64), (256, 128)),
    "resnet20": partial(_resnet, 3),
    "resnet32": partial(_resnet, 5),
}

CVAES: dict[str, Callable[..., nn.Module]] = {
    "mlp": MlpCvae,
    "conv": _conv_cvae,
}


def build_classifier(arch: str, input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    """A freshly initialised classifier of architecture ``arch``."""
    if arch not in CLASSIFIERS:
        raise FsbbtError(f"unknown architecture {arch!r}; choose one of {', '.join(sorted(CLASSIFIERS))}")
    model = CLASSIFIERS[arch](input_shape, num_classes)
    keras_initialise(model)
    return model


def build_cvae(kind: str, input_shape: tuple[int, int, int], num_classes: int, latent_dim: int) -> nn.Module:
    """A freshly initialised conditional VAE of kind ``kind``."""
    if kind not in CVAES:
        raise FsbbtError(f"unknown CVAE kind {kind!r}; choose one of {', '.join(sorted(CVAES))}")
    model = CVAES[kind](input_shape, num_classes, latent_dim)
    keras_initialise(model)
    return model
