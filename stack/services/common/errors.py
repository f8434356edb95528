"""Errors a service turns into fast, defined HTTP answers instead of hangs or bare 500s.

    ServiceError
    ├── DependencyUnavailable   503: postgres/redis/another service is down, slow or short-circuited
    ├── Unauthorized            401: no or unknown session
    ├── BadRequest              400: the request cannot be served as asked (empty cart, gone products)
    ├── NotFound                404
    └── Conflict                409: it exists already, or the key was used for something else
"""

from __future__ import annotations


class ServiceError(Exception):
    status_code = 500
    code = "internal_error"


class DependencyUnavailable(ServiceError):
    status_code = 503
    code = "dependency_unavailable"

    def __init__(self, dependency: str, reason: str, retry_after_s: int = 1) -> None:
        super().__init__(f"{dependency} unavailable: {reason}")
        self.dependency = dependency
        self.reason = reason
        self.retry_after_s = retry_after_s


class Unauthorized(ServiceError):
    status_code = 401
    code = "unauthorized"


class BadRequest(ServiceError):
    status_code = 400
    code = "bad_request"


class NotFound(ServiceError):
    status_code = 404
    code = "not_found"


class Conflict(ServiceError):
    status_code = 409
    code = "conflict"
