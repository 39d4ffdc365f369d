"""Example FastAPI service deployed by service-infra."""
