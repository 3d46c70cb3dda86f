"""Shared test set-up: a hypothesis profile that keeps the suite fast and deterministic."""

import os

from hypothesis import HealthCheck, settings

# "ci" (the default): no per-example deadline (shared machines stall), a bounded number of
# examples, and derandomized so a red run can be reproduced. HYPOTHESIS_PROFILE=dev explores more.
settings.register_profile(
    "ci",
    deadline=None,
    max_examples=30,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile("dev", deadline=None, max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
