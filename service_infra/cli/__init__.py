"""Operator commands: ``python -m service_infra check|rollback|config-reference ...``."""
