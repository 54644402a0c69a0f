"""Translate the published configuration layouts into network constructor arguments.

Accepted layouts, per family:

* ``ddpm`` — either the nested layout of the reference YAML files (and of the
  checkpoint manifests): ``{"model": {ch, ch_mult, num_res_blocks, attn_resolutions,
  in_channels, out_ch, resamp_with_conv, dropout, [type, var_type, ema, ema_rate]},
  "data": {"image_size", ...}, ...}``, where sections other than ``model`` and
  ``data.image_size`` are ignored; or a flat layout with the same model keys
  plus ``image_size`` at the top level.
* ``adm`` — either the guided-diffusion command-line flags (``num_channels``,
  ``class_cond``, ``learn_sigma``, ``attention_resolutions="32,16,8"`` as
  resolutions, ``channel_mult=""`` for the per-size default, ...), as in the
  manifests; or the UNet constructor's arguments (``model_channels``,
  ``out_channels``, ``num_classes``, ``attention_resolutions`` as downsample
  rates), as in ``unet_adm_tiny.pt``. A config holding ``model_channels`` is
  read as the constructor layout.
* ``adm_classifier`` — either the ``classifier_*`` flags, or the encoder
  constructor's arguments (``model_channels``, ``pool``, ...).

``use_fp16`` and ``classifier_use_fp16`` are accepted for compatibility and do
not change the network: mixed precision is done with ``torch.autocast``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .errors import ConfigError

FAMILIES = ("ddpm", "adm", "adm_classifier")

# guided-diffusion's per-resolution channel multipliers, used when channel_mult is "".
_DEFAULT_CHANNEL_MULT = {
    512: (0.5, 1, 1, 2, 2, 4, 4),
    256: (1, 1, 2, 2, 4, 4),
    128: (1, 1, 2, 3, 4),
    64: (1, 2, 3, 4),
}
_NUM_IMAGENET_CLASSES = 1000

_DDPM_ARCH_KEYS = (
    "ch", "out_ch", "ch_mult", "num_res_blocks", "attn_resolutions",
    "in_channels", "resamp_with_conv", "dropout",
)
_DDPM_DEFAULTS = {"in_channels": 3, "resamp_with_conv": True, "dropout": 0.0}
# Training/sampling settings that sit in the reference YAML's model section.
_DDPM_IGNORED_MODEL_KEYS = ("type", "var_type", "ema", "ema_rate")

_ADM_CTOR_KEYS = (
    "image_size", "in_channels", "model_channels", "out_channels", "num_res_blocks",
    "attention_resolutions", "dropout", "channel_mult", "conv_resample", "num_classes",
    "use_checkpoint", "use_fp16", "num_heads", "num_head_channels", "num_heads_upsample",
    "use_scale_shift_norm", "resblock_updown", "use_new_attention_order",
)
_ADM_FLAG_KEYS = (
    "image_size", "in_channels", "num_channels", "num_res_blocks", "channel_mult",
    "learn_sigma", "class_cond", "use_checkpoint", "attention_resolutions", "num_heads",
    "num_head_channels", "num_heads_upsample", "use_scale_shift_norm", "dropout",
    "resblock_updown", "use_fp16", "use_new_attention_order",
)
_CLASSIFIER_CTOR_KEYS = (
    "image_size", "in_channels", "model_channels", "out_channels", "num_res_blocks",
    "attention_resolutions", "dropout", "channel_mult", "conv_resample", "use_checkpoint",
    "use_fp16", "num_heads", "num_head_channels", "num_heads_upsample",
    "use_scale_shift_norm", "resblock_updown", "use_new_attention_order", "pool",
)
_CLASSIFIER_FLAG_KEYS = (
    "image_size", "classifier_use_fp16", "classifier_width", "classifier_depth",
    "classifier_attention_resolutions", "classifier_use_scale_shift_norm",
    "classifier_resblock_updown", "classifier_pool",
)


def network_kwargs(family: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """Constructor arguments of the network class of ``family`` for ``config`` (any accepted layout)."""
    if not isinstance(config, Mapping):
        raise ConfigError(f"a network config must be a mapping, got {type(config).__name__}")
    if family == "ddpm":
        return ddpm_kwargs(config)
    if family == "adm":
        return adm_kwargs(config)
    if family == "adm_classifier":
        return classifier_kwargs(config)
    raise ConfigError(f"unknown network family '{family}'; allowed: {', '.join(FAMILIES)}")


def _check_keys(config: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    unknown = sorted(set(config) - set(allowed))
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in {where}; allowed: {', '.join(allowed)}")


def _require(config: Mapping[str, Any], keys: Sequence[str], where: str) -> None:
    missing = [k for k in keys if k not in config]
    if missing:
        raise ConfigError(f"missing key(s) {missing} in {where}")


def _blocks(value: Any) -> int | list[int]:
    """DDPM ``num_res_blocks``: one count (the published layout) or a list, one per ``ch_mult`` level."""
    if isinstance(value, str) and "," not in value:
        value = value.strip()
    if isinstance(value, (str, Sequence)) and not (isinstance(value, str) and value.isdigit()):
        return _int_list(value, "num_res_blocks")
    return int(value)


def _int_list(value: Any, key: str) -> list[int]:
    """A comma-separated string or a sequence of integers, as a list of ints."""
    if isinstance(value, str):
        parts = [p for p in value.split(",") if p.strip()]
        try:
            return [int(p) for p in parts]
        except ValueError:
            raise ConfigError(f"{key} must be comma-separated integers, got {value!r}") from None
    if isinstance(value, Sequence) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return list(value)
    raise ConfigError(f"{key} must be a sequence of integers or a comma-separated string, got {value!r}")


def _mult_list(value: Any, image_size: int) -> list[float]:
    """channel_mult as numbers; "" means guided-diffusion's default for the image size."""
    if value in ("", None):
        if image_size not in _DEFAULT_CHANNEL_MULT:
            raise ConfigError(
                f"no default channel_mult for image_size {image_size}; give channel_mult explicitly "
                f"(defaults exist for {sorted(_DEFAULT_CHANNEL_MULT)})"
            )
        return list(_DEFAULT_CHANNEL_MULT[image_size])
    if isinstance(value, str):
        try:
            return [float(p) if "." in p else int(p) for p in value.split(",")]
        except ValueError:
            raise ConfigError(f"channel_mult must be comma-separated numbers, got {value!r}") from None
    if isinstance(value, Sequence) and value and all(isinstance(v, (int, float)) for v in value):
        return list(value)
    raise ConfigError(f"channel_mult must be a non-empty sequence of numbers, got {value!r}")


def ddpm_kwargs(config: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments of ``DDPMUNet`` from the nested reference-YAML layout or the flat layout."""
    if "model" in config:
        model = config["model"]
        if not isinstance(model, Mapping):
            raise ConfigError("config['model'] must be a mapping")
        _check_keys(model, _DDPM_ARCH_KEYS + _DDPM_IGNORED_MODEL_KEYS, "the DDPM config's model section")
        if model.get("type", "simple") != "simple":
            raise ConfigError(f"DDPM model type {model['type']!r} is not supported; allowed: 'simple'")
        data = config.get("data", {})
        if not isinstance(data, Mapping) or "image_size" not in data:
            raise ConfigError("the nested DDPM config needs data.image_size")
        flat = {k: model[k] for k in _DDPM_ARCH_KEYS if k in model}
        flat["image_size"] = data["image_size"]
    else:
        _check_keys(config, _DDPM_ARCH_KEYS + ("image_size",), "the flat DDPM config")
        flat = dict(config)
    _require(flat, ("ch", "out_ch", "ch_mult", "num_res_blocks", "attn_resolutions", "image_size"), "the DDPM config")
    merged = {**_DDPM_DEFAULTS, **flat}
    return {
        "ch": int(merged["ch"]),
        "out_ch": int(merged["out_ch"]),
        "ch_mult": _int_list(merged["ch_mult"], "ch_mult"),
        "num_res_blocks": _blocks(merged["num_res_blocks"]),
        "attn_resolutions": _int_list(merged["attn_resolutions"], "attn_resolutions"),
        "in_channels": int(merged["in_channels"]),
        "resamp_with_conv": bool(merged["resamp_with_conv"]),
        "dropout": float(merged["dropout"]),
        "image_size": int(merged["image_size"]),
    }


def _attention_rates(resolutions: Any, image_size: int, key: str) -> list[int]:
    """Attention resolutions (e.g. "32,16,8") as downsample rates image_size // resolution."""
    rates = []
    for res in _int_list(resolutions, key):
        if res <= 0 or image_size % res:
            raise ConfigError(f"{key} entry {res} must be a positive divisor of image_size {image_size}")
        rates.append(image_size // res)
    return rates


def _adm_common(cfg: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "dropout": float(cfg.get("dropout", 0.0)),
        "conv_resample": bool(cfg.get("conv_resample", True)),
        "use_checkpoint": bool(cfg.get("use_checkpoint", False)),
        "num_heads": int(cfg.get("num_heads", 1)),
        "num_head_channels": int(cfg.get("num_head_channels", -1)),
        "num_heads_upsample": int(cfg.get("num_heads_upsample", -1)),
        "use_scale_shift_norm": bool(cfg.get("use_scale_shift_norm", False)),
        "resblock_updown": bool(cfg.get("resblock_updown", False)),
        "use_new_attention_order": bool(cfg.get("use_new_attention_order", False)),
    }


def adm_kwargs(config: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments of ``ADMUNet`` from guided-diffusion flags or constructor arguments."""
    if "model_channels" in config:
        _check_keys(config, _ADM_CTOR_KEYS, "the ADM constructor config")
        _require(config, ("image_size", "model_channels", "out_channels", "num_res_blocks",
                          "attention_resolutions"), "the ADM constructor config")
        image_size = int(config["image_size"])
        num_classes = config.get("num_classes")
        return {
            "image_size": image_size,
            "in_channels": int(config.get("in_channels", 3)),
            "model_channels": int(config["model_channels"]),
            "out_channels": int(config["out_channels"]),
            "num_res_blocks": int(config["num_res_blocks"]),
            "attention_resolutions": _int_list(config["attention_resolutions"], "attention_resolutions"),
            "channel_mult": _mult_list(config.get("channel_mult", (1, 2, 4, 8)), image_size),
            "num_classes": None if num_classes is None else int(num_classes),
            **_adm_common(config),
        }
    _check_keys(config, _ADM_FLAG_KEYS, "the ADM flags config (give model_channels for the constructor layout)")
    _require(config, ("image_size", "num_channels", "num_res_blocks"), "the ADM flags config")
    image_size = int(config["image_size"])
    in_channels = int(config.get("in_channels", 3))
    return {
        "image_size": image_size,
        "in_channels": in_channels,
        "model_channels": int(config["num_channels"]),
        "out_channels": 2 * in_channels if config.get("learn_sigma", False) else in_channels,
        "num_res_blocks": int(config["num_res_blocks"]),
        "attention_resolutions": _attention_rates(config.get("attention_resolutions", "16"), image_size,
                                                  "attention_resolutions"),
        "channel_mult": _mult_list(config.get("channel_mult", ""), image_size),
        "num_classes": _NUM_IMAGENET_CLASSES if config.get("class_cond", False) else None,
        **_adm_common(config),
    }


def classifier_kwargs(config: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments of ``ADMClassifier`` from the classifier_* flags or constructor arguments."""
    if "model_channels" in config:
        _check_keys(config, _CLASSIFIER_CTOR_KEYS, "the ADM classifier constructor config")
        _require(config, ("image_size", "model_channels", "out_channels", "num_res_blocks",
                          "attention_resolutions"), "the ADM classifier constructor config")
        image_size = int(config["image_size"])
        return {
            "image_size": image_size,
            "in_channels": int(config.get("in_channels", 3)),
            "model_channels": int(config["model_channels"]),
            "out_channels": int(config["out_channels"]),
            "num_res_blocks": int(config["num_res_blocks"]),
            "attention_resolutions": _int_list(config["attention_resolutions"], "attention_resolutions"),
            "channel_mult": _mult_list(config.get("channel_mult", (1, 2, 4, 8)), image_size),
            "pool": str(config.get("pool", "attention")),
            **_adm_common(config),
        }
    _check_keys(config, _CLASSIFIER_FLAG_KEYS,
                "the ADM classifier flags config (give model_channels for the constructor layout)")
    _require(config, ("image_size",), "the ADM classifier flags config")
    image_size = int(config["image_size"])
    # Defaults are guided-diffusion's classifier_defaults().
    return {
        "image_size": image_size,
        "in_channels": 3,
        "model_channels": int(config.get("classifier_width", 128)),
        "out_channels": _NUM_IMAGENET_CLASSES,
        "num_res_blocks": int(config.get("classifier_depth", 2)),
        "attention_resolutions": _attention_rates(config.get("classifier_attention_resolutions", "32,16,8"),
                                                  image_size, "classifier_attention_resolutions"),
        "channel_mult": _mult_list("", image_size),
        "pool": str(config.get("classifier_pool", "attention")),
        **_adm_common({
            "num_head_channels": 64,
            "use_scale_shift_norm": config.get("classifier_use_scale_shift_norm", True),
            "resblock_updown": config.get("classifier_resblock_updown", True),
        }),
    }
