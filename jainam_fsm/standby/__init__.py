"""Hot standby: one leader per (server root, app key), arbitrated by PostgreSQL.

See ``docs/operations.md`` (high availability) for how to run it and the timing argument.
:class:`StandbyConfig` is the public entry; ``StreamingAdapter(..., standby=URL or
StandbyConfig)`` wires the rest.
"""

from jainam_fsm.standby.config import StandbyConfig, group_of
from jainam_fsm.standby.desired import DesiredRow

__all__ = ["DesiredRow", "StandbyConfig", "group_of"]
