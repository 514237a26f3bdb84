"""The ``jainam-fsm`` subcommands (each module exposes ``add_subcommand``)."""
