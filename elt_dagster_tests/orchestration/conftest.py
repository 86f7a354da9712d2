"""Fixtures of the orchestration tests: a Dagster instance database of a test's own, as the deployment tests have."""

from elt_dagster_tests.deployment.conftest import instance_url, postgres_home

__all__ = ["instance_url", "postgres_home"]
