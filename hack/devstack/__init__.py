"""Development helpers that run a real Kubernetes control plane on loopback for tests and demos."""
