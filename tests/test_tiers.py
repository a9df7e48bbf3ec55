"""The test tiers: markers registered, hypothesis profiles that scale each test's example count."""

import pytest
from helpers import examples
from hypothesis import settings


def test_the_tier_markers_are_registered(request):
    names = {line.split(":")[0] for line in request.config.getini("markers")}
    assert {"interop", "slow", "hostile"} <= names


@pytest.fixture
def profile():
    """Load a profile for the test; the one loaded before comes back afterwards."""
    before = settings._current_profile  # hypothesis names the loaded profile only here
    yield settings.load_profile
    settings.load_profile(before)


def test_examples_are_the_written_counts_under_ci_and_a_tenth_under_dev(profile):
    profile("ci")
    assert settings().max_examples == 100 and settings().deadline is None
    assert examples(300) == 300 and examples(50) == 50
    profile("dev")
    assert settings().deadline is None
    assert examples(300) == 30 and examples(5) == 1  # never zero
