"""Amazon ECR: EcrRepository (and, later, pull secrets)."""
