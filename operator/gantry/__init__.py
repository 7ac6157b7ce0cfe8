"""Gantry: a Kubernetes operator that keeps AWS container infrastructure in line with YAML."""

API_GROUP = "gantry.dev"
API_VERSION = "v1alpha1"
GROUP_VERSION = f"{API_GROUP}/{API_VERSION}"
