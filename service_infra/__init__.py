"""service-infra: one service team's local, staging and prod environments as Pulumi stacks.

Rooms: ``settings`` (the stack config, parsed and checked), ``components`` (Pulumi components),
``commands`` (argument lists as data), ``ops`` (standard-library programs the command resources
run), ``cli`` (operator commands), ``contract`` (names the program and the policy pack share) and
``boundary`` (what the program and the ``ops`` programs agree on across the process boundary).
Kept import-free, so ``python3 -m service_infra.ops.<name>`` loads nothing else.
"""
