"""Amazon ECS: EcsCluster and EcsService (with the task definitions it registers)."""
