"""The pure lifecycle core: the state machine, the backoff policy and the subscription registry.

Nothing under this package imports a socket, HTTP or database module; it talks to the ports in
:mod:`jainam_fsm.core.ports`, so it can be driven by fakes (Hypothesis) in milliseconds.
"""
