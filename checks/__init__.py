"""Checkers: pure functions over a history (`load.history`), no I/O, no clocks, no servers.

    windows   what the load saw in a window: counts, success rate, nearest-rank latency percentiles
    timing    MTTD, steady state, restored_at and RTO, when the steady state broke, hung requests
    ledger    the write ledger reconciled with the stored orders: lost (and the RPO, the age at the failure of
              the oldest lost), phantom, duplicate, charged twice, mismatched, refused but done, unknowns
    standard  the checks every scenario has, from what a run recorded
    verdict   named checks against targets, and their conjunction
"""
