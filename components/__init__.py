"""Entry points kept for stacks deployed before the code moved to service_infra/ (December 2026).

Their state holds command lines such as ``python3 -m components.rollout retire ...``; Pulumi runs
a resource's *stored* delete command, so those must keep working until every stack has run one
``pulumi up`` with the new code (which rewrites them to ``service_infra.ops.*``). Each module
here only hands over to its successor in ``service_infra.ops``. Nothing else belongs here:
``tests/unit/test_layout.py`` fails if anything does.
"""
