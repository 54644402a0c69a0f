"""``sigma_y: auto``: each photo's σ_y estimated from the photo itself (measurement mode).

The estimate is taken on the observed image as it is (for ``srK`` the low-resolution photo, for
deblurring the blurry one): that is where y's noise lives. A noiseless image (synthetic, or saved
without any noise) estimates about 0; DDRM would then trust y exactly, which an 8-bit file cannot
deserve: its pixels carry at least the rounding error of 8 bits, a uniform error of one level, std
1/(255·√12) ≈ 0.0011 on the [0, 1] scale. That is the floor used, and said, for such an image.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import Tensor

from .noise_estimate import estimate_noise

NOISELESS_FLOOR = 1.0 / (255.0 * math.sqrt(12.0))

# Who hears "estimated σ_y … from …" (a CLI prints it; the Python API prints it too).
Notify = Callable[[str], None]


def _print(message: str) -> None:
    print(message, flush=True)


def auto_sigma_y(observed: Tensor, where: str, notify: Notify | None = _print) -> float:
    """σ_y of one observed image (C, H, W) in model space [-1, 1], announced through ``notify``.

    Returns the estimate, or ``NOISELESS_FLOOR`` when the estimate is below it (a noiseless image).
    """
    sigma = estimate_noise(((observed.detach().float().cpu() + 1.0) / 2.0).clamp(0.0, 1.0))
    if sigma < NOISELESS_FLOOR:
        message = (f"estimated σ_y {sigma:.4f} from {where}: no measurable noise (a noiseless or synthetic image); "
                   f"using the floor σ_y {NOISELESS_FLOOR:.4f}, the rounding noise of an 8-bit image")
        sigma = NOISELESS_FLOOR
    else:
        message = f"estimated σ_y {sigma:.3f} from {where}"
    if notify is not None:
        notify(message)
    return round(sigma, 6)
