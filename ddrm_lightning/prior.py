"""``PriorTraining``: DDPM ε-prediction training of a prior, with an EMA copy that restoration uses.

Loss (Ho et al. 2020, "simple"): E_{t ~ U{0..T-1}, ε ~ N(0, I)} ‖ε − ε_θ(√ᾱ_t x₀ + √(1−ᾱ_t) ε, t)‖².
"""

from __future__ import annotations

import math
from functools import partial

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .models import build_network, linear_betas, load_model, network_export
from .models.grow import grow_ddpm
from .sampling.schedule import alphas_cumprod_of, skip_timesteps


LR_SCHEDULES = ("constant", "cosine")


class PriorTraining(L.LightningModule):
    """Train (from scratch) or fine-tune (from a checkpoint) a diffusion prior.

    Args:
        family: network family for training from scratch (``ddpm`` or ``adm``).
        network: network config of that family (ignored when ``init_from`` is given).
        init_from: zoo name, ``embedded`` or path to start from (fine-tuning).
        beta_start, beta_end, num_steps: the linear β schedule (kept from ``init_from`` when fine-tuning).
        lr, weight_decay, betas: AdamW settings.
        ema_decay: decay of the exponential moving average of the weights.
        lr_schedule: ``constant``, or ``cosine``: linear warm-up over ``lr_warmup_steps``, then a
            cosine decay to ``lr * lr_min_ratio`` at step ``lr_total_steps``.
        lr_warmup_steps, lr_min_ratio: the warm-up length and the final fraction of ``lr`` (cosine only).
        lr_total_steps: where the cosine ends (default: the trainer's ``max_steps``); a run may stop
            earlier on the same schedule, as the embedded prior's recipe does at the shipped step.
        grow_res_blocks: with ``init_from`` (a DDPM network), residual blocks per level to grow it to before
            training; the grown network computes what the loaded one does (``models.grow``).
        focus_steps: a sampler's step count S whose timesteps (DDRM's uniform skip) get ``focus_fraction``
            of the training samples, the rest uniform over all T: fine-tunes the network where that sampler
            evaluates it while keeping every timestep trained.
        focus_fraction: the share of samples drawn from the focused timesteps, in (0, 1].
        dropout: the dropout rate of every dropout layer while training, in [0, 1) (None: the network
            config's; the embedded prior's is 0): regularizes a prior fine-tuned on few photographs.
            Restoration runs the network in eval mode, where dropout does nothing.
        activation_checkpointing: recompute activations in backward (saves memory at 256²).
        seed: seed of the training noise (per rank).
    """

    def __init__(
        self,
        family: str = "ddpm",
        network: dict | None = None,
        init_from: str | None = None,
        beta_start: float = 1e-4,
        beta_end: float = 0.02,
        num_steps: int = 1000,
        lr: float = 2e-4,
        weight_decay: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.999),
        ema_decay: float = 0.999,
        lr_schedule: str = "constant",
        lr_warmup_steps: int = 0,
        lr_min_ratio: float = 0.05,
        lr_total_steps: int | None = None,
        grow_res_blocks: list[int] | None = None,
        focus_steps: int | None = None,
        focus_fraction: float = 0.5,
        dropout: float | None = None,
        activation_checkpointing: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay}")
        if lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"unknown lr_schedule '{lr_schedule}'; allowed: {', '.join(LR_SCHEDULES)}")
        if lr_warmup_steps < 0 or not 0.0 <= lr_min_ratio <= 1.0:
            raise ValueError(f"need lr_warmup_steps >= 0 and lr_min_ratio in [0, 1]; got {lr_warmup_steps}, {lr_min_ratio}")
        if not 0.0 < focus_fraction <= 1.0:
            raise ValueError(f"focus_fraction must be in (0, 1], got {focus_fraction}")
        if dropout is not None and not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if init_from:
            loaded = load_model(init_from)
            self.family, self.network_config, net = loaded.family, dict(loaded.config), loaded.network
            schedule = loaded.betas.double()
            if grow_res_blocks is not None:
                if self.family != "ddpm":
                    raise ValueError(f"grow_res_blocks grows a ddpm network; {init_from} is {self.family}")
                net, self.network_config = grow_ddpm(net, self.network_config, grow_res_blocks)
        else:
            if grow_res_blocks is not None:
                raise ValueError("grow_res_blocks grows the network given by --model.init_from; without it, "
                                 "set num_res_blocks in --model.network")
            if network is None:
                raise ValueError("give a network config (--model.network) or a checkpoint to start from "
                                 "(--model.init_from); the smallest working command: python train.py --model.init_from "
                                 "embedded (fine-tunes the embedded prior on the bundled photos)")
            self.family, self.network_config = family, dict(network)
            net = build_network(family, self.network_config)
            schedule = linear_betas(beta_start, beta_end, num_steps)
        if dropout is not None:
            for layer in net.modules():
                if isinstance(layer, torch.nn.Dropout):
                    layer.p = dropout
        self.network = net.train()
        if activation_checkpointing:
            _enable_checkpointing(self.network)
        self.ema = AveragedModel(self.network, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=True)
        self.ema.requires_grad_(False)
        self.register_buffer("betas", schedule.double())
        self.register_buffer("alphas_cumprod", alphas_cumprod_of(schedule).float())
        focus = skip_timesteps(schedule.shape[0], focus_steps) if focus_steps is not None else []
        self.register_buffer("focus_timesteps", torch.tensor(focus, dtype=torch.long), persistent=False)
        self._generator: torch.Generator | None = None

    def on_fit_start(self) -> None:
        # One noise stream per rank, from an explicit seed: no global RNG.
        self._generator = torch.Generator(device=self.device)
        self._generator.manual_seed(int(self.hparams.seed) * 1_000_003 + self.global_rank + 1_000 * self.current_epoch)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        out = self.network(x, t)
        return out[:, : x.shape[1]]

    def diffusion_loss(self, x0: Tensor) -> Tensor:
        """The simple DDPM loss for a batch of clean images in [-1, 1]."""
        gen = self._generator
        t = self.sample_timesteps(x0.shape[0])
        noise = torch.randn(x0.shape, device=x0.device, dtype=x0.dtype, generator=gen)
        abar = self.alphas_cumprod[t].view(-1, 1, 1, 1).to(x0.dtype)
        x_t = abar.sqrt() * x0 + (1.0 - abar).sqrt() * noise
        return F.mse_loss(self(x_t, t).float(), noise.float())

    def sample_timesteps(self, n: int) -> Tensor:
        """n training timesteps: uniform over 0 … T−1, or, with ``focus_steps``, partly from its timesteps."""
        gen, device = self._generator, self.alphas_cumprod.device
        t = torch.randint(0, self.alphas_cumprod.shape[0], (n,), device=device, generator=gen)
        if self.focus_timesteps.numel():
            pick = self.focus_timesteps[torch.randint(0, self.focus_timesteps.numel(), (n,), device=device, generator=gen)]
            focused = torch.rand(n, device=device, generator=gen) < self.hparams.focus_fraction
            t = torch.where(focused, pick, t)
        return t

    def training_step(self, batch, batch_idx: int) -> Tensor:
        if self._generator is None:
            self.on_fit_start()
        loss = self.diffusion_loss(batch["image"] if isinstance(batch, dict) else batch)
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=False, sync_dist=False)
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        self.ema.update_parameters(self.network)

    def configure_optimizers(self):
        hp = self.hparams
        optimizer = torch.optim.AdamW(self.network.parameters(), lr=hp.lr, weight_decay=hp.weight_decay, betas=tuple(hp.betas))
        if hp.lr_schedule == "constant":
            return optimizer
        total = hp.lr_total_steps or (self.trainer.max_steps if self._trainer is not None else -1)
        if total is None or total <= 0:
            raise ValueError("lr_schedule=cosine decays to --model.lr_total_steps or, without it, "
                             "--trainer.max_steps; set one of them")
        factor = partial(cosine_factor, warmup=hp.lr_warmup_steps, total=total, floor=hp.lr_min_ratio)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def export(self) -> dict:
        """The EMA network in the package's export format (what restoration loads)."""
        return network_export(self.ema.module, self.family, self.network_config, self.betas.cpu())

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # Lets `restore.py --model.prior <this .ckpt>` load the EMA network directly.
        checkpoint["ddrm_export"] = self.export()


def cosine_factor(step: int, warmup: int, total: int, floor: float) -> float:
    """The learning-rate multiplier at ``step``: linear warm-up, then cosine from 1 to ``floor`` at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def _enable_checkpointing(network: torch.nn.Module) -> None:
    """Wrap each residual/attention block's forward in activation checkpointing."""
    from torch.utils.checkpoint import checkpoint

    for module in network.modules():
        if type(module).__name__ in {"ResnetBlock", "ResBlock", "AttnBlock", "AttentionBlock"}:
            forward = module.forward

            def wrapped(*args, _forward=forward, **kwargs):
                if torch.is_grad_enabled():
                    return checkpoint(_forward, *args, use_reentrant=False, **kwargs)
                return _forward(*args, **kwargs)

            module.forward = wrapped
