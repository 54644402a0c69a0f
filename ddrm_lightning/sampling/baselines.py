"""Classical restorations with the same operator, reported beside DDRM."""

from __future__ import annotations

from torch import Tensor


def wiener(y: Tensor, operator, sigma_0: float, signal_var: Tensor) -> Tensor:
    """SVD Tikhonov/Wiener solution x = V diag(s / (s² + λ)) Uᵀ y, λ = σ₀² / signal variance.

    ``signal_var`` (B,) is the per-image variance of the clean signal in model space
    (the caller estimates it, e.g. from the observed image). With σ₀ = 0 this is H⁺y.
    """
    s = operator.singulars().to(y.dtype)
    lam = (sigma_0**2 / signal_var.clamp_min(1e-8)).to(y.dtype).unsqueeze(1)  # (B, 1)
    denom = s.unsqueeze(0) ** 2 + lam
    gain = s.unsqueeze(0) / denom.where(denom > 0, 1.0)
    gain = gain.where(denom > 0, 0.0)
    return operator.V(operator.pad_spectral(gain * operator.Ut(y)))
