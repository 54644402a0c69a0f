"""All the metrics a sweep computes besides PSNR/SSIM/consistency, behind one module.

The LightningModule owns one ``SweepMetrics``: Lightning moves it to the device, and
``update`` is called per predict batch, ``compute`` once at the end. Which metrics run is
decided at construction: the weight files are fetched into the torch hub cache then (when
``download`` allows), and a metric whose weights (or GIQA reference) cannot be had is
``Unavailable`` from the start and costs nothing afterwards.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from .availability import Unavailable, short_error
from .conventions import DEFAULT_FID_CONVENTION, check_convention, convention_note
from .distribution import DistributionMetrics
from .features import CustomFeatures, feature_network
from .fetching import obtain_weights
from .giqa import GIQA, relative_score
from .perceptual import LPIPS_NETS, load_lpips, lpips_undefined
from .reference import check_reference, reference_features

GIQA_NAMES = ("giqa_gmm", "giqa_knn", "giqa_gmm_rel", "giqa_knn_rel")


class SweepMetrics(nn.Module):
    """LPIPS per image, GIQA per image, FID/KID over the sweep.

    Args:
        lpips: compute LPIPS with AlexNet (``lpips_alex``) and VGG16 (``lpips_vgg``).
        fid, kid: accumulate FID / KID of the restorations against the originals.
        giqa: score each restoration with GMM- and KNN-GIQA against ``giqa_reference``.
        inception_weights: Inception-v3 FID weights file or folder (default: the torch hub cache).
        lpips_weights: folder (or file in it) with the torchvision AlexNet/VGG16 ImageNet weights
            (default: the torch hub cache).
        download: fetch weights missing from the torch hub cache (never into a given folder).
        progress: show a progress bar while fetching.
        feature_extractor: a module/callable images in [0, 1] -> (B, D) used instead of Inception
            for FID, KID and GIQA (numbers then only compare with the same extractor).
        fid_convention: how images reach Inception for FID, KID and GIQA: ``torch-fidelity``
            (default), ``clean-fid`` or ``torchmetrics`` (``conventions.py``, docs/metrics.md).
        giqa_reference: clean images of the domain, not the evaluated originals: any source of
            ``reference.reference_features`` (a folder, ``bundled:<names>``, ``hf:<dataset>[@split]``,
            a dataset or tensor of images, or features: tensor/array, ``.pt``/``.npy`` file).
        giqa_reference_size: centre-crop reference images to this size first (None: as stored).
        giqa_reference_limit: use only the first this many reference images (None: all).
        giqa_components, giqa_k, giqa_pca: GIQA's mixture size, neighbours, PCA variance (None = off).
        kid_subsets: number of KID subsets.
        seed: seed of KID's subset draws and of the GIQA mixture fit.
        methods: names under which restorations are accumulated for FID/KID (``update(method=...)``).
    """

    def __init__(
        self,
        *,
        lpips: bool = True,
        fid: bool = True,
        kid: bool = True,
        giqa: bool = True,
        inception_weights: str | Path | None = None,
        lpips_weights: str | Path | None = None,
        download: bool = True,
        progress: bool = True,
        feature_extractor: Callable[[Tensor], Tensor] | None = None,
        fid_convention: str = DEFAULT_FID_CONVENTION,
        giqa_reference: Tensor | np.ndarray | str | Path | None = None,
        giqa_reference_size: int | None = None,
        giqa_reference_limit: int | None = None,
        giqa_components: int = 5,
        giqa_k: int = 1,
        giqa_pca: float | None = None,
        kid_subsets: int = 100,
        seed: int = 0,
        methods: Sequence[str] = ("ddrm",),
    ) -> None:
        super().__init__()
        if isinstance(methods, str) or len(methods) == 0:
            raise ValueError(f"methods must be a non-empty sequence of names, got {methods!r}")
        self.methods = tuple(methods)
        self.fid_convention = check_convention(fid_convention)
        self.unavailable: dict[str, Unavailable] = {}
        self.notes: dict[str, str] = {}

        set_level = [name for name, on in (("fid", fid), ("kid", kid), ("kid_std", kid)) if on]
        self._giqa_settings = dict(n_components=giqa_components, k=giqa_k, pca_variance=giqa_pca, random_state=seed)
        self._reference_options = dict(image_size=giqa_reference_size, limit=giqa_reference_limit)
        if giqa:  # bad settings are refused now, before any network is loaded
            GIQA(**self._giqa_settings)
            for name, value in self._reference_options.items():
                if value is not None and int(value) < 1:
                    raise ValueError(f"giqa_reference_{name} must be at least 1 or None, got {value}")
            if giqa_reference is not None:
                check_reference(giqa_reference)
        giqa_on = giqa and giqa_reference is not None
        needs_features = bool(set_level) or giqa_on

        needs_inception = (needs_features and feature_extractor is None and inception_weights is None
                           and importlib.util.find_spec("torch_fidelity") is not None)
        wanted = [w for w, on in (("alexnet", lpips and lpips_weights is None), ("vgg16", lpips and lpips_weights is None),
                                  ("inception", needs_inception)) if on]
        if wanted:  # the missing ones are fetched now, their servers probed at once
            obtain_weights(wanted, download=download, progress=progress)

        self.lpips_nets = nn.ModuleDict()
        for net in LPIPS_NETS if lpips else ():
            loaded = load_lpips(net, lpips_weights, download=download, progress=progress)
            if isinstance(loaded, Unavailable):
                self.unavailable[f"lpips_{net}"] = loaded
            else:
                self.lpips_nets[net] = loaded

        self.features = None
        if needs_features:
            features = feature_network(feature_extractor, inception_weights, download=download, progress=progress,
                                       convention=fid_convention)
            if isinstance(features, Unavailable):
                for name in set_level + (list(GIQA_NAMES) if giqa_on else []):
                    self.unavailable[name] = features
            else:
                self.features = features

        self.distribution = nn.ModuleDict()
        if self.features is not None and (fid or kid):
            for method in self.methods:
                self.distribution[method] = DistributionMetrics(
                    self.features.num_features, fid=fid, kid=kid, kid_subsets=kid_subsets, seed=seed
                )

        self._giqa: GIQA | None = None
        self._giqa_reference = giqa_reference if giqa_on and self.features is not None else None
        if giqa and giqa_reference is None:
            reason = Unavailable("no GIQA reference set (pass giqa_reference: clean images, a dataset or their features)")
            self.unavailable.update({name: reason for name in GIQA_NAMES})

        # The feature networks are frozen pretrained weights read from their own files:
        # keep them out of the owner's checkpoints.
        self.register_state_dict_post_hook(_drop_own_entries)
        self.register_load_state_dict_pre_hook(_keep_own_entries)

    # ------------------------------------------------------------------ names
    @property
    def per_image_names(self) -> list[str]:
        """The per-image columns ``update`` returns, in order."""
        names = [f"lpips_{net}" for net in self.lpips_nets]
        if self._giqa_reference is not None:
            names += list(GIQA_NAMES)
        return names

    def value_note(self, name: str) -> str:
        """What the summary row of a computed ``name`` says about how it was computed: for the
        Inception-based metrics the FID convention, for a custom extractor that it is one."""
        if name not in ("fid", "kid") or self.features is None:
            return ""
        if isinstance(self.features, CustomFeatures):
            return "features: custom extractor (comparable only with the same extractor)"
        return convention_note(self.fid_convention)

    # --------------------------------------------------------------- per batch
    def prepare_giqa(self, device: torch.device | str = "cpu") -> GIQA | None:
        """Fit GIQA on the reference (once; done by the first ``update`` if not called before).

        A reference that cannot be read or fitted makes GIQA ``Unavailable`` (its columns NaN)
        rather than stopping the sweep; the fit's adjustments to a small set are in ``notes``.
        """
        if self._giqa is None and self._giqa_reference is not None and "giqa_gmm" not in self.unavailable:
            try:
                reference = reference_features(self._giqa_reference, self.features, device=device,
                                               **self._reference_options)
                self._giqa = GIQA(**self._giqa_settings).fit(reference)
            except Exception as error:  # a bad reference must not cost the sweep's other numbers
                source = self._giqa_reference
                named = source if isinstance(source, (str, Path)) else type(source).__name__
                reason = Unavailable(f"GIQA reference {named}: {short_error(error)}")
                self.unavailable.update({name: reason for name in GIQA_NAMES})
                return None
            for index, note in enumerate(self._giqa.notes_):
                self.notes[f"giqa_{index}"] = note
        return self._giqa

    @torch.no_grad()
    def per_image(self, restored01: Tensor, original01: Tensor) -> dict[str, Tensor]:
        """Per-image metrics of a batch without accumulating FID/KID (e.g. for baselines)."""
        return self._step(restored01, original01, method=None)

    @torch.no_grad()
    def update(self, restored01: Tensor, original01: Tensor, method: str = "ddrm") -> dict[str, Tensor]:
        """Per-image metrics of a batch (B,) each, and accumulate FID/KID under ``method``."""
        if method not in self.methods:
            raise ValueError(f"unknown method '{method}'; allowed: {', '.join(self.methods)}")
        return self._step(restored01, original01, method=method)

    def _step(self, restored01: Tensor, original01: Tensor, method: str | None) -> dict[str, Tensor]:
        if restored01.ndim != 4 or restored01.shape != original01.shape:
            raise ValueError(
                f"restored and original must both be (B, C, H, W) of one shape, got {tuple(restored01.shape)} "
                f"and {tuple(original01.shape)}"
            )
        restored = restored01.float().clamp(0.0, 1.0)
        original = original01.float().clamp(0.0, 1.0)
        # Too small for LPIPS: NaN for these images (the rows say why), the sweep goes on.
        too_small = bool(lpips_undefined(*restored.shape[-2:]))
        out = {f"lpips_{net}": torch.full((restored.shape[0],), float("nan"), device=restored.device) if too_small
               else model(restored, original) for net, model in self.lpips_nets.items()}
        accumulate = method is not None and method in self.distribution
        if not accumulate and self._giqa_reference is None:
            return out
        # One forward pass gives the features of both sets for FID, KID and GIQA.
        features = self.features(torch.cat([restored, original]))
        restored_features, original_features = features.split(restored.shape[0])
        if accumulate:
            self.distribution[method].update(restored_features, original_features)
        if self._giqa_reference is not None:
            out.update(self._giqa_scores(restored_features, original_features, device=restored.device))
        return out

    def _giqa_scores(self, restored_features: Tensor, original_features: Tensor, device) -> dict[str, Tensor]:
        giqa = self.prepare_giqa(device)
        if giqa is None:
            return {name: torch.full((restored_features.shape[0],), float("nan"), device=device) for name in GIQA_NAMES}
        restored_scores = giqa.score(restored_features)
        original_scores = giqa.score(original_features)
        out = dict(restored_scores)
        for name in restored_scores:
            out[f"{name}_rel"] = relative_score(restored_scores[name], original_scores[name])
        return {name: torch.as_tensor(out[name], dtype=torch.float32, device=device) for name in GIQA_NAMES}

    # -------------------------------------------------------------- end of run
    def compute(self, method: str = "ddrm") -> dict[str, float | Unavailable]:
        """FID/KID of ``method``'s restorations and an ``Unavailable`` for every metric that could not run.

        In a distributed run every process must call it (torchmetrics synchronises here).
        """
        if method not in self.methods:
            raise ValueError(f"unknown method '{method}'; allowed: {', '.join(self.methods)}")
        out: dict[str, float | Unavailable] = dict(self.unavailable)
        if method in self.distribution:
            out.update(self.distribution[method].compute())
        return out

    def reset(self) -> None:
        """Forget the accumulated FID/KID statistics (the GIQA fit is kept)."""
        for metrics in self.distribution.values():
            metrics.reset()


def _drop_own_entries(module: nn.Module, state_dict: dict, prefix: str, local_metadata: dict) -> None:
    for key in [k for k in state_dict if k.startswith(prefix)]:
        del state_dict[key]


def _keep_own_entries(module: nn.Module, state_dict: dict, prefix: str, *args) -> None:
    # A checkpoint without these entries loads cleanly: the current weights stand in for them.
    for name, tensor in _persistent_entries(module, prefix):
        state_dict.setdefault(name, tensor)


def _persistent_entries(module: nn.Module, prefix: str):
    """(key, tensor) of what ``state_dict`` would hold without the hook above."""
    for path, sub in module.named_modules(prefix=prefix.rstrip("."), remove_duplicate=False):
        head = f"{path}." if path else ""
        for name, param in sub._parameters.items():
            if param is not None:
                yield head + name, param
        for name, buffer in sub._buffers.items():
            if buffer is not None and name not in sub._non_persistent_buffers_set:
                yield head + name, buffer
