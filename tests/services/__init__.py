"""Tests of the reference platform itself (stack/services/: core_platform, commerce, payment, content_services,
search_recommendation, event_compactor and their shared lib, stack/services/common), the system the chaos
suite is run against, kept apart from the tests of the harness (tests/unit, tests/integration).

unit/: the services' pure parts, no servers (breaker, retry, database deadlines, the commerce and core_platform
pieces, the content_services consumer, the event compactor). integration/: the shopper's journeys through the
gateway, on the real stack (marked `integration`).
"""
