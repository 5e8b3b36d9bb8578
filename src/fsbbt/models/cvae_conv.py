"""The convolutional conditional VAE FS-BBT trains on the few RGB 32×32 images."""

from __future__ import annotations

import torch
from torch import nn

from fsbbt.models.cvae_base import ConditionalVae

ENCODER_FILTERS = (32, 64, 128, 256, 512)


class ConvCvae(ConditionalVae):
    """Encoder: [x ⊕ plane(c)] → five stride-2 4×4 convs (32…512, ReLU) → 32 → 16 → (μ, log σ²).
    Decoder: [z ⊕ c] → 16 → 32 → the encoder's last feature map → five stride-2 4×4
    transposed convs (256…32, then the image channels) → sigmoid.

    The condition (the teacher's top-1 label, one-hot) enters the encoder as one extra
    image plane made by a dense layer C → H·W, so the convolutions see it at every
    pixel; the decoder takes it concatenated to the latent, as the MLP CVAE does.
    """

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int, latent_dim: int = 2) -> None:
        super().__init__()
        channels, height, width = image_shape
        stride_total = 2 ** len(ENCODER_FILTERS)
        if height % stride_total or width % stride_total:
            raise ValueError(f"ConvCvae needs sides divisible by {stride_total}, got {height}×{width}")
        self.image_shape = image_shape
        self.num_classes = num_classes
        self.latent_dim = latent_dim
        self.feature_shape = (ENCODER_FILTERS[-1], height // stride_total, width // stride_total)
        feature_size = self.feature_shape[0] * self.feature_shape[1] * self.feature_shape[2]

        self.condition_plane = nn.Linear(num_classes, height * width)
        encoder: list[nn.Module] = []
        previous = channels + 1
        for filters in ENCODER_FILTERS:
            encoder += [nn.Conv2d(previous, filters, 4, stride=2, padding=1), nn.ReLU()]
            previous = filters
        self.encoder = nn.Sequential(
            *encoder, nn.Flatten(), nn.Linear(feature_size, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU()
        )
        self.to_mean = nn.Linear(16, latent_dim)
        self.to_log_var = nn.Linear(16, latent_dim)

        decoder: list[nn.Module] = [
            nn.Linear(latent_dim + num_classes, 16),
            nn.ReLU(),
            nn.Linear(16, 32),
            nn.ReLU(),
            nn.Linear(32, feature_size),
            nn.ReLU(),
            nn.Unflatten(1, self.feature_shape),
        ]
        up_filters = (*reversed(ENCODER_FILTERS[:-1]), channels)
        previous = ENCODER_FILTERS[-1]
        for index, filters in enumerate(up_filters):
            last = index == len(up_filters) - 1
            decoder += [
                nn.ConvTranspose2d(previous, filters, 4, stride=2, padding=1),
                nn.Sigmoid() if last else nn.ReLU(),
            ]
            previous = filters
        self.decoder = nn.Sequential(*decoder)

    def encode(self, images: torch.Tensor, conditions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, height, width = self.image_shape
        plane = self.condition_plane(conditions).view(-1, 1, height, width)
        hidden = self.encoder(torch.cat([images, plane.to(images.dtype)], dim=1))
        return self.to_mean(hidden), self.to_log_var(hidden)

    def decode(self, latents: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.cat([latents, conditions], dim=1))
