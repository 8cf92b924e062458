"""The wire contracts of rds, imported by both sides.

One module per agent boundary (``builder``, ``activator``, ``killer``,
``migrator``, ``gc``) lists that service's name, the commands it accepts and
the events it emits; ``agents`` holds what every agent emits (heartbeat, task
progress). ``registry`` maps every name to its schema. No service retypes a
name or a payload shape: import them from here.

Everything on the wire is JSON produced by ``Schema.model_dump(mode="json")``
and validated on receipt with :func:`rds_contracts.registry.parse_command` or
:func:`rds_contracts.registry.parse_event`.
"""
