"""Jobs of this capability (registered with app.jobs.job / app.jobs.periodic)."""

from __future__ import annotations
