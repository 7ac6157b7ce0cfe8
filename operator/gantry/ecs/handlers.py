"""kopf glue for EcsCluster and EcsService: the standard handlers, wired by the runtime."""

from __future__ import annotations

from gantry.ecs import reconcile
from gantry.ecs.models import CLUSTER_KIND, SERVICE_KIND
from gantry.runtime import register_kind

register_kind(CLUSTER_KIND, reconcile.reconcile_cluster, reconcile.delete_cluster)
register_kind(SERVICE_KIND, reconcile.reconcile_service, reconcile.delete_service)
