"""The registry of kinds: their CRD descriptions and the modules holding their handlers."""

from __future__ import annotations

from gantry.cdk.models import KIND as CDK_BOOTSTRAP
from gantry.core.crd import KindInfo
from gantry.ecr.models import KIND as ECR_REPOSITORY
from gantry.ecs.models import CLUSTER_KIND as ECS_CLUSTER
from gantry.ecs.models import SERVICE_KIND as ECS_SERVICE
from gantry.pullsecrets.models import CLUSTER_KIND as CLUSTER_ECR_PULL_SECRET
from gantry.pullsecrets.models import KIND as ECR_PULL_SECRET

KINDS: tuple[KindInfo, ...] = (
    ECR_REPOSITORY,
    ECR_PULL_SECRET,
    CLUSTER_ECR_PULL_SECRET,
    ECS_CLUSTER,
    ECS_SERVICE,
    CDK_BOOTSTRAP,
)

HANDLER_MODULES: tuple[str, ...] = (
    "gantry.ecr.handlers",
    "gantry.pullsecrets.handlers",
    "gantry.ecs.handlers",
    "gantry.cdk.handlers",
)
