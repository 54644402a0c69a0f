"""DDRM sampler: reference statistics under an analytic Gaussian prior, and its contracts."""

from __future__ import annotations

import pytest
import torch

from ddrm_lightning.operators import build_operator
from ddrm_lightning.sampling import ddrm, linear_alphas_cumprod, skip_timesteps, wiener

ABAR = linear_alphas_cumprod()


def gaussian_eps(mean: torch.Tensor, std: float):
    """The exact ε-predictor of the prior x₀ ~ N(mean, std² I)."""

    def eps(x, t):
        a = ABAR[t].float().view(-1, 1, 1, 1)
        return (1 - a).sqrt() * (x - a.sqrt() * mean) / (a * std**2 + 1 - a)

    return eps


def reference_operator(key: str, run: dict, size: int):
    name = key.split("@")[0]
    params = {}
    if "perm" in run:
        params["perm"] = run["perm"]
    if "kept_pixels" in run:
        params["mask"] = run["kept_pixels"]
    return build_operator(name, 3, size, size, **params)


@pytest.fixture(scope="module")
def gaussian_reference(reference_dir):
    return torch.load(reference_dir / "sampler_gaussian_prior.pt", weights_only=False)


def _run_statistics(ref, key, num_samples):
    run = ref["runs"][key]
    op = reference_operator(key, run, ref["image_size"])
    # H(H⁺y) = y maps the reference's y into this operator's own measurement layout.
    y = op.H(run["pinv_y"]).expand(num_samples, -1)
    gens = [torch.Generator().manual_seed(i) for i in range(num_samples)]
    out = ddrm(
        gaussian_eps(ref["prior_mean"], ref["prior_std"]), y, op, sigma_0=run["sigma_0"], alphas_cumprod=ABAR,
        timesteps=ref["timesteps"], eta=ref["eta"], eta_b=ref["eta_b"], generator=gens,
    )
    mean_p, std_p = out.mean(0, keepdim=True), out.std(0, keepdim=True)
    z = (mean_p - run["mean"]) / (run["std"] ** 2 / ref["num_samples"] + std_p**2 / num_samples).sqrt()
    return (z**2).mean().item(), (std_p / run["std"]).mean().item(), ((out - ref["x_true"]) ** 2).mean().item()


RUNS = [
    "deno@0.1", "sr4@0.0", "sr4@0.1", "deblur_gauss@0.0", "deblur_gauss@0.1", "deblur_uni@0.0", "deblur_uni@0.1",
    "sr_bicubic4@0.0", "sr_bicubic4@0.1", "inp@0.0", "inp@0.1", "color@0.0", "color@0.1", "cs4@0.0", "cs4@0.1",
]


@pytest.mark.parametrize("key", RUNS)
def test_reference_gaussian_statistics(gaussian_reference, key):
    assert key in gaussian_reference["runs"]
    z2, std_ratio, mse = _run_statistics(gaussian_reference, key, num_samples=1000)
    assert abs(z2 - 1.0) < 0.25, f"{key}: mean z² = {z2:.3f} (means differ beyond Monte-Carlo error)"
    assert abs(std_ratio - 1.0) < 0.05, f"{key}: std ratio {std_ratio:.3f}"
    assert mse == pytest.approx(gaussian_reference["runs"][key]["mse_to_truth"], rel=0.1)


# ----------------------------------------------------------------------------- contracts
def _toy(batch=3, size=8, sigma_0=0.1, name="sr2"):
    op = build_operator(name, 3, size, size)
    x = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(1)) * 2 - 1
    y = op.H(x) + sigma_0 * torch.randn(batch, op.m, generator=torch.Generator().manual_seed(2))
    return op, x, y


def test_sample_does_not_depend_on_its_batch():
    op, _, y = _toy(batch=4)
    eps = gaussian_eps(torch.zeros(1, 3, 8, 8), 0.5)
    gens = lambda idx: [torch.Generator().manual_seed(100 + i) for i in idx]  # noqa: E731
    full = ddrm(eps, y, op, sigma_0=0.1, alphas_cumprod=ABAR, timesteps=5, generator=gens(range(4)))
    alone = ddrm(eps, y[2:3], op, sigma_0=0.1, alphas_cumprod=ABAR, timesteps=5, generator=gens([2]))
    # Same noise by construction; a batched matmul may pick other BLAS kernels than a single row
    # (different summation order), so equality holds to float32 rounding, not bitwise.
    torch.testing.assert_close(full[2:3], alone, atol=1e-5, rtol=1e-5)


def test_global_rng_untouched_and_seeded_runs_repeat():
    op, _, y = _toy()
    eps = gaussian_eps(torch.zeros(1, 3, 8, 8), 0.5)
    state = torch.get_rng_state()
    a = ddrm(eps, y, op, sigma_0=0.1, alphas_cumprod=ABAR, timesteps=4, generator=torch.Generator().manual_seed(3))
    assert torch.equal(state, torch.get_rng_state())
    b = ddrm(eps, y, op, sigma_0=0.1, alphas_cumprod=ABAR, timesteps=4, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_noiseless_measurement_is_finite_and_consistent():
    op, x, _ = _toy(sigma_0=0.0, name="deno")
    y = op.H(x)
    eps = gaussian_eps(torch.zeros(1, 3, 8, 8), 0.5)
    out = ddrm(eps, y, op, sigma_0=0.0, alphas_cumprod=ABAR, timesteps=10, eta=0.85, eta_b=1.0)
    assert torch.isfinite(out).all()
    # With σ₀ = 0 every observed component is pinned to ȳ up to the last (tiny) noise level.
    assert (op.H(out) - y).abs().max() < 0.05


def test_zero_singular_value_is_unobserved_even_with_noise():
    """Components with s = 0 follow the prior whatever σ₀ is.

    The published code sends them down the "y noisier" branch when σ₀ > 0, which drops
    their deterministic DDIM term. Under an isotropic Gaussian prior each spectral
    component evolves on its own, so with the same noise the null-space components
    must come out identical for σ₀ = 0 and σ₀ = 0.2, and centred on the prior mean.
    """
    op = build_operator("deblur_uni", 1, 16, 16)
    null = op.singulars() == 0
    assert null.any()
    y = op.H(torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(0)))
    prior_mean = torch.full((1, 1, 16, 16), 0.3)
    runs = {}
    for sigma_0 in (0.0, 0.2):
        out = ddrm(gaussian_eps(prior_mean, 0.5), y.expand(200, -1), op, sigma_0=sigma_0, alphas_cumprod=ABAR,
                   timesteps=10, generator=[torch.Generator().manual_seed(i) for i in range(200)])
        assert torch.isfinite(out).all()
        runs[sigma_0] = op.Vt(out)[:, : op.m][:, null]
    # The null-space rows share every draw; only float32 rounding of the observed rows' V products
    # (thread-count dependent sums over n = 256) reaches them.
    torch.testing.assert_close(runs[0.2], runs[0.0], atol=1e-4, rtol=1e-4)
    expected = op.Vt(prior_mean)[:, : op.m][:, null]
    torch.testing.assert_close(runs[0.2].mean(0), expected[0], atol=0.12, rtol=0)


def test_callback_sees_every_step_and_classifier_grad_at_current_xt():
    op, _, y = _toy()
    eps = gaussian_eps(torch.zeros(1, 3, 8, 8), 0.5)
    seen_t, grad_inputs = [], []

    def grad(x_t, t):
        grad_inputs.append(x_t.clone())
        return torch.zeros_like(x_t)

    ddrm(eps, y, op, sigma_0=0.1, alphas_cumprod=ABAR, timesteps=6, classifier_grad=grad,
         callback=lambda i, t, x, x0: seen_t.append(t))
    assert seen_t == list(reversed(skip_timesteps(1000, 6)))
    assert not torch.allclose(grad_inputs[0], grad_inputs[-1])


def test_learned_variance_output_uses_first_channels():
    op, _, y = _toy()
    eps = gaussian_eps(torch.zeros(1, 3, 8, 8), 0.5)
    doubled = lambda x, t: torch.cat([eps(x, t), torch.full_like(x, 1e3)], 1)  # noqa: E731
    a = ddrm(eps, y, op, sigma_0=0.1, alphas_cumprod=ABAR, timesteps=3, generator=torch.Generator().manual_seed(0))
    b = ddrm(doubled, y, op, sigma_0=0.1, alphas_cumprod=ABAR, timesteps=3, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sigma_0": -0.1}, "sigma_0"),
        ({"sigma_0": float("nan")}, "sigma_0"),
        ({"eta": 1.5}, "eta"),
        ({"eta_b": -0.1}, "eta_b"),
        ({"timesteps": 0}, "timesteps"),
        ({"timesteps": 1001}, "timesteps"),
    ],
)
def test_bad_hyperparameters(kwargs, message):
    op, _, y = _toy()
    args = {"sigma_0": 0.1, "timesteps": 4, **kwargs}
    with pytest.raises(ValueError, match=message):
        ddrm(gaussian_eps(torch.zeros(1, 3, 8, 8), 0.5), y, op, alphas_cumprod=ABAR, **args)


def test_wiener_is_pinv_without_noise_and_shrinks_with_noise():
    op, x, _ = _toy(name="deblur_gauss", size=16, batch=2)
    y = op.H(x)
    torch.testing.assert_close(wiener(y, op, 0.0, torch.ones(2)), op.H_pinv(y))
    shrunk = wiener(y, op, 0.5, torch.ones(2))
    assert shrunk.norm() < op.H_pinv(y).norm()


def test_clip_denoised_bounds_a_wild_prior():
    op, _, y = _toy(name="sr2")
    wild = lambda x, t: torch.full_like(x, -50.0)  # noqa: E731  an ε far outside anything plausible
    kwargs = dict(sigma_0=0.1, alphas_cumprod=ABAR, timesteps=5, generator=torch.Generator().manual_seed(0))
    free = ddrm(wild, y, op, **kwargs)
    clipped = ddrm(wild, y, op, clip_denoised=True, **{**kwargs, "generator": torch.Generator().manual_seed(0)})
    assert free.abs().max() > 10
    assert clipped.abs().max() <= 1.0 + 1e-4
