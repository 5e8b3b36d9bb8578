"""The MLP conditional VAE that FS-BBT trains on the few grey images."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MlpCvae(nn.Module):
    """Encoder [x ⊕ c] → 256 → 128 → 64 → (μ, log σ²); decoder [z ⊕ c] → 64 → 128 → 256 → x.

    The condition is the teacher's top-1 label as a one-hot vector, so sampling can
    ask for a balanced number of images of every class.
    """

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int,
                 latent_dim: int = 2) -> None:
        super().__init__()
        self.image_shape = image_shape
        self.num_classes = num_classes
        self.latent_dim = latent_dim
        pixels = image_shape[0] * image_shape[1] * image_shape[2]
        self.encoder = nn.Sequential(
            nn.Linear(pixels + num_classes, 256), nn.ReLU(),
            nn.Linear(256, 128), nn.ReLU(),
            nn.Linear(128, 64), nn.ReLU(),
        )
        self.to_mean = nn.Linear(64, latent_dim)
        self.to_log_var = nn.Linear(64, latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim + num_classes, 64), nn.ReLU(),
            nn.Linear(64, 128), nn.ReLU(),
            nn.Linear(128, 256), nn.ReLU(),
            nn.Linear(256, pixels), nn.Sigmoid(),
        )

    def encode(self, images: torch.Tensor, conditions: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.encoder(torch.cat([images.flatten(1), conditions], dim=1))
        return self.to_mean(hidden), self.to_log_var(hidden)

    def decode(self, latents: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        flat = self.decoder(torch.cat([latents, conditions], dim=1))
        return flat.view(-1, *self.image_shape)

    def forward(self, images: torch.Tensor, conditions: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mean, log_var = self.encode(images, conditions)
        latents = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)
        return self.decode(latents, conditions), mean, log_var


def cvae_loss(reconstruction: torch.Tensor, images: torch.Tensor, mean: torch.Tensor,
              log_var: torch.Tensor) -> torch.Tensor:
    """Pixel-summed binary cross-entropy plus KL divergence, averaged over the batch."""
    reconstruction_term = F.binary_cross_entropy(
        reconstruction.flatten(1), images.flatten(1), reduction="none"
    ).sum(dim=1)
    kl_term = -0.5 * torch.sum(1 + log_var - mean.pow(2) - log_var.exp(), dim=1)
    return (reconstruction_term + kl_term).mean()
