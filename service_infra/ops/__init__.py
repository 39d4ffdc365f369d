"""Programs the command resources run on the machine that runs Pulumi: rollout, probe, Fly.

Each is ``python3 -m service_infra.ops.<name> ...``. Standard library only, and nothing from the
rest of service_infra (a unit test enforces it), so any ``python3`` can run them.
"""
