"""0.2.0's path of the GAN, which its configs and checkpoints name (``fizzlightning.models`` now)."""

from fizzlightning.models.gan import GAN as GAN
