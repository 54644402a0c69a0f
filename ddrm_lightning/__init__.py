"""ddrm-lightning: Denoising Diffusion Restoration Models (Kawar et al., NeurIPS 2022) with PyTorch Lightning."""

__version__ = "0.1.0"
