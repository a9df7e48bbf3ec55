"""Suite-wide setup: the tests directory on the path, and hypothesis profiles.

Hypothesis profiles (``HYPOTHESIS_PROFILE``): ``ci``, the full example counts the tests are written with, and ``dev``,
a tenth of them for a quick run while working.  ``CI=true`` always selects ``ci`` (a CI job cannot be weakened by a
stray variable); without either variable the full counts run.  Tests write their counts as
``settings(max_examples=examples(300))`` (:func:`helpers.examples`), which scales them by the profile.  Neither
profile has a deadline or the too-slow health check: both are wall-clock limits, and the suite must stay green on a
loaded machine.
"""

import os
import sys

from hypothesis import HealthCheck, settings

sys.path.insert(0, os.path.dirname(__file__))

# helpers.examples(n) is n * (the loaded profile's max_examples) / (ci's max_examples)
settings.register_profile("ci", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=10, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
if os.environ.get("CI", "").lower() == "true":
    settings.load_profile("ci")
else:
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
