"""Shared reconcile machinery with no knowledge of any AWS service or of kopf."""
