"""kopf glue for EcrRepository: the standard handlers, wired by the shared runtime."""

from __future__ import annotations

from gantry.ecr import reconcile
from gantry.ecr.models import KIND
from gantry.runtime import register_kind

register_kind(KIND, reconcile.reconcile, reconcile.delete)
