"""Restoration samplers by name, with the settings each was published with.

Every sampler has the call shape of ``ddrm``:
``method(eps_model, y, operator, *, sigma_0, alphas_cumprod, generator, callback, **params) -> (B, C, H, W)``.
``params`` are the method's own settings (``timesteps`` included); ``method_defaults`` gives the
published ones and ``validate_method`` checks a name and a parameter set before a long run starts.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from .ddnm import ddnm, ddnm_plus
from .ddrm import ddrm
from .ddrm_jpeg import PUBLISHED as _JPEG_PUBLISHED
from .ddrm_jpeg import ddrm_jpeg
from .diffpir import diffpir
from .dps import dps
from .pigdm import pigdm

METHODS = {"ddrm": ddrm, "ddnm": ddnm, "ddnm_plus": ddnm_plus, "pigdm": pigdm, "diffpir": diffpir, "dps": dps}

# Paper settings (see each module's docstring for the source and the NFE they were published for).
_PUBLISHED: dict[str, dict[str, Any]] = {
    "ddrm": {"timesteps": 20, "eta": 0.85, "eta_b": 1.0},
    "ddnm": {"timesteps": 100, "eta": 0.85},
    "ddnm_plus": {"timesteps": 100, "eta": 0.85, "travel_length": 1, "travel_repeat": 1},
    "pigdm": {"timesteps": 100, "eta": 1.0},
    "diffpir": {"timesteps": 100, "lam": 7.0, "zeta": 0.3},
    "dps": {"timesteps": 1000, "zeta": 1.0},
}

# A degradation that is no linear map (``jpeg``: ``operator.linear`` False) has no SVD; the methods that
# generalise to it, by name, with that sampler and its published settings.
NONLINEAR = {"ddrm": (ddrm_jpeg, _JPEG_PUBLISHED)}
# Why the others cannot (docs/real_photos.md).
NONLINEAR_REFUSALS = {
    "ddnm": "its range-null-space projection needs the linear A and its pseudo-inverse A⁺",
    "ddnm_plus": "its range-null-space projection needs the linear A and its pseudo-inverse A⁺",
    "pigdm": "its guidance solves with (H Hᵀ + c I)⁻¹, which needs a linear H",
    "diffpir": "its data step is a proximal solve with the linear H in closed form (its SVD)",
    "dps": "its gradient of ‖y − H(x̂₀)‖ through JPEG's rounding is zero almost everywhere",
}

# Supplied by the caller on every call, not settings of a method.
_CALL_ARGUMENTS = frozenset({"sigma_0", "alphas_cumprod", "generator", "callback", "classifier_grad"})


def method_parameters(name: str) -> list[str]:
    """The settings ``name`` accepts (its keyword-only arguments other than the per-call ones)."""
    _check_name(name)
    signature = inspect.signature(METHODS[name])
    return [p.name for p in signature.parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in _CALL_ARGUMENTS]


def method_defaults(name: str, timesteps: int | None = None) -> dict[str, Any]:
    """The published settings of ``name``; ``timesteps`` (if given) replaces the published step count."""
    _check_name(name)
    params = dict(_PUBLISHED[name])
    if timesteps is not None:
        if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
            raise ValueError(f"timesteps must be a positive integer, got {timesteps!r}")
        params["timesteps"] = timesteps
    return params


def validate_method(name: str, params: Mapping[str, Any]) -> None:
    """Raise a one-line ``ValueError`` for an unknown method or a setting the method does not have."""
    _check_name(name)
    allowed = method_parameters(name)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(f"method '{name}' has no parameter {', '.join(unknown)}; allowed: {', '.join(allowed)}")


def _check_name(name: str) -> None:
    if not isinstance(name, str) or name not in METHODS:
        raise ValueError(f"unknown method '{name}'; allowed: {', '.join(METHODS)}")


def nonlinear_method(name: str):
    """(sampler, published settings) of method ``name`` for a non-linear degradation (``jpeg``), or a one-line
    ``ValueError`` saying why the method cannot restore one."""
    _check_name(name)
    if name not in NONLINEAR:
        raise ValueError(f"method {name} cannot restore jpeg: {NONLINEAR_REFUSALS[name]}; use method ddrm (DDRM-JPEG)")
    return NONLINEAR[name]
