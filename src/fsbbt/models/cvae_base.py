"""What the MLP and convolutional CVAEs share: the reparameterised forward pass and the loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConditionalVae(nn.Module):
    """A CVAE conditioned on a one-hot class; subclasses define ``encode`` and ``decode``.

    ``latent_dim`` and ``decode`` are what class-balanced sampling uses.
    """

    latent_dim: int

    def encode(self, images: torch.Tensor, conditions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def decode(self, latents: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(
        self, images: torch.Tensor, conditions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mean, log_var = self.encode(images, conditions)
        latents = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)
        return self.decode(latents, conditions), mean, log_var


def cvae_loss(
    reconstruction: torch.Tensor, images: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor
) -> torch.Tensor:
    """Pixel-summed binary cross-entropy plus KL divergence, averaged over the batch.

    Computed in float32 whatever precision the network ran in: the sums over 3,072
    pixels are where reduced precision would lose the most.
    """
    reconstruction_term = F.binary_cross_entropy(
        reconstruction.float().flatten(1), images.float().flatten(1), reduction="none"
    ).sum(dim=1)
    mean, log_var = mean.float(), log_var.float()
    kl_term = -0.5 * torch.sum(1 + log_var - mean.pow(2) - log_var.exp(), dim=1)
    return (reconstruction_term + kl_term).mean()
