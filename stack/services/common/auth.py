"""Session checks for services other than core_platform: they ask core_platform, which owns sessions."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from .app import deps
from .errors import DependencyUnavailable, Unauthorized


@dataclass(frozen=True)
class User:
    user_id: int
    email: str


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("missing bearer token")
    return token


def current_user(request: Request) -> User:
    """FastAPI dependency: the user behind the request's bearer token, validated by core_platform."""
    token = bearer_token(request)
    response = deps(request).service("core_platform").request(
        "GET", "/auth/validate", retry=True, headers={"authorization": f"Bearer {token}"}
    )
    if response.status_code == 401:
        raise Unauthorized("session not found or expired")
    if response.status_code != 200:
        raise DependencyUnavailable("core_platform", f"/auth/validate answered {response.status_code}")
    body = response.json()
    return User(user_id=int(body["user_id"]), email=str(body["email"]))
