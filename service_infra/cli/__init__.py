"""Operator commands: ``python -m service_infra check|rollback ...``."""
