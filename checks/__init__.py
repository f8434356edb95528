"""Checkers: pure functions over a history (`load.history`), no I/O, no clocks, no servers.

    windows   what the load saw in a window: counts, success rate, nearest-rank latency percentiles
    timing    MTTD, steady state, restored_at and RTO, longest outage, hung requests
    data      acknowledged writes lost (and the RPO span), duplicates, unknown writes
    verdict   named checks against targets, and their conjunction
"""
