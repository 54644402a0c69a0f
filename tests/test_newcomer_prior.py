"""A loaded prior carries what it is (issue 28, item 2): every default that depends on the prior
(the embedded prior's own DDRM steps) applies to ``load_prior("embedded")`` as to ``"embedded"``."""

from __future__ import annotations

import torch

from ddrm_lightning import load_prior, restore
from ddrm_lightning.models.embedded import EMBEDDED_DDRM_STEPS, EMBEDDED_PRIOR


def test_a_loaded_embedded_prior_restores_as_the_named_one():
    image = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    settings = dict(sigma_y=0.05, seed=1, precision="fp32", tile=None)
    by_name = restore(image, "sr2", prior="embedded", **settings)
    loaded = restore(image, "sr2", prior=load_prior("embedded"), **settings)
    by_file = restore(image, "sr2", prior=load_prior(EMBEDDED_PRIOR), **settings)
    assert torch.equal(loaded, by_name) and torch.equal(by_file, by_name)
    at_the_paper_steps = restore(image, "sr2", prior=load_prior("embedded"), steps=20, **settings)
    assert EMBEDDED_DDRM_STEPS != 20 and not torch.equal(at_the_paper_steps, by_name)


def test_a_loaded_prior_says_which_checkpoint_it_is(tiny_prior):
    assert load_prior("embedded").checkpoint == "embedded"
    assert load_prior(tiny_prior).checkpoint == str(tiny_prior)
