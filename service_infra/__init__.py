"""service-infra: one service team's local, staging and prod environments as Pulumi stacks.

Rooms: ``settings`` (the stack config, parsed and checked), ``components`` (Pulumi components),
``commands`` (argument lists as data), ``ops`` (standard-library programs the command resources
run), ``cli`` (operator commands) and ``contract`` (names the program and the policy pack share).
Kept import-free, so ``python3 -m service_infra.ops.<name>`` loads nothing else.
"""
