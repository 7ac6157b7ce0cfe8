"""The registry of kinds: their CRD descriptions and the modules holding their handlers."""

from __future__ import annotations

from gantry.core.crd import KindInfo
from gantry.ecr.models import KIND as ECR_REPOSITORY

KINDS: tuple[KindInfo, ...] = (ECR_REPOSITORY,)

HANDLER_MODULES: tuple[str, ...] = ("gantry.ecr.handlers",)
