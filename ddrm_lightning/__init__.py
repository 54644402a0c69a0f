"""ddrm-lightning: Denoising Diffusion Restoration Models (Kawar et al., NeurIPS 2022) with PyTorch Lightning.

``from ddrm_lightning import restore, load_prior, estimate_noise`` is the Python API (see ``ddrm_lightning.api``);
it is imported on first use, so the command-line tools do not pay for it.
"""

__version__ = "0.1.0"
__all__ = ["estimate_noise", "load_prior", "restore"]


def __getattr__(name: str):
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'ddrm_lightning' has no attribute {name!r}")
