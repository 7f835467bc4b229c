"""Suite-wide settings."""

import os

from hypothesis import settings

# In CI the generated examples are derived from each test's name, so a run is
# reproducible; locally every run explores new examples.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
