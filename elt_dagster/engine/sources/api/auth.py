"""How each auth kind of the YAML signs a request: one small `requests` auth class per kind, picked by `type`."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from requests import PreparedRequest
from requests.auth import AuthBase, HTTPBasicAuth

from .models import ApiKeyAuth, Auth, BasicAuth, BearerAuth


class BearerTokenAuth(AuthBase):
    """`Authorization: Bearer <token>`."""

    def __init__(self, config: BearerAuth):
        self.token = config.token

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


class ApiKeyAuthenticator(AuthBase):
    """An API key in a header, or in the query unless the URL already carries it."""

    def __init__(self, config: ApiKeyAuth):
        self.name, self.value, self.location = config.name, config.value, config.in_

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        if self.location == "header":
            request.headers[self.name] = self.value
        elif not any(key == self.name for key, _ in parse_qsl(urlsplit(request.url or "").query)):
            request.prepare_url(request.url, {self.name: self.value})
        return request


class BasicCredentialsAuth(HTTPBasicAuth):
    """HTTP basic authentication."""

    def __init__(self, config: BasicAuth):
        super().__init__(config.username, config.password)


AUTH_CLASSES: dict[str, type[AuthBase]] = {
    "bearer": BearerTokenAuth,
    "api_key": ApiKeyAuthenticator,
    "basic": BasicCredentialsAuth,
}
"""The YAML `auth.type` -> the class that signs requests."""


def build_auth(config: Auth | None) -> AuthBase | None:
    """The request signer for a source's `auth:` (None: no auth)."""
    return AUTH_CLASSES[config.type](config) if config else None  # type: ignore[call-arg]
