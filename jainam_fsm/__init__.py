"""jainam-fsm: a market-data connection for XTS that never silently goes quiet."""
