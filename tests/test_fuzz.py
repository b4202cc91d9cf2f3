"""A seeded fuzzing campaign: mutated real models never crash or hang compatcheck."""

from __future__ import annotations

import pytest
from fuzz_models import check_bytes, mutated_models, seed_models
from hypothesis import HealthCheck, given, settings

CAMPAIGN = 2000


def test_seeded_campaign_of_mutated_models(tmp_path):
    seeds = seed_models()
    if not seeds:
        pytest.skip("the shared model corpus is not beside the checkout")
    runs = []

    @settings(
        max_examples=CAMPAIGN,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(mutated_models(seeds))
    def one(case):
        runs.append(1)
        problem = check_bytes(*case, str(tmp_path))
        assert problem is None, problem

    one()
    assert len(runs) >= CAMPAIGN
