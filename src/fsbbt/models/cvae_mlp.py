"""The MLP conditional VAE that FS-BBT trains on the few grey images."""

from __future__ import annotations

import torch
from torch import nn

from fsbbt.models.cvae_base import ConditionalVae


class MlpCvae(ConditionalVae):
    """Encoder [x ⊕ c] → 256 → 128 → 64 → (μ, log σ²); decoder [z ⊕ c] → 64 → 128 → 256 → x.

    The condition is the teacher's top-1 label as a one-hot vector, so sampling can
    ask for a balanced number of images of every class.
    """

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int, latent_dim: int = 2) -> None:
        super().__init__()
        self.image_shape = image_shape
        self.num_classes = num_classes
        self.latent_dim = latent_dim
        pixels = image_shape[0] * image_shape[1] * image_shape[2]
        self.encoder = nn.Sequential(
            nn.Linear(pixels + num_classes, 256),
            nn.ReLU(),
            nn.Linear(256, 128),
            nn.ReLU(),
            nn.Linear(128, 64),
            nn.ReLU(),
        )
        self.to_mean = nn.Linear(64, latent_dim)
        self.to_log_var = nn.Linear(64, latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim + num_classes, 64),
            nn.ReLU(),
            nn.Linear(64, 128),
            nn.ReLU(),
            nn.Linear(128, 256),
            nn.ReLU(),
            nn.Linear(256, pixels),
            nn.Sigmoid(),
        )

    def encode(self, images: torch.Tensor, conditions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.encoder(torch.cat([images.flatten(1), conditions], dim=1))
        return self.to_mean(hidden), self.to_log_var(hidden)

    def decode(self, latents: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        flat = self.decoder(torch.cat([latents, conditions], dim=1))
        return flat.view(-1, *self.image_shape)
