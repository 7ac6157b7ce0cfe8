"""EcrPullSecret and ClusterEcrPullSecret: ECR authorization tokens as image pull Secrets."""
