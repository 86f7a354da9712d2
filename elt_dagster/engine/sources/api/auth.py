"""How each auth kind of the YAML signs a request (one small `requests` auth class per kind, picked by `type`), and
the session that keeps those credentials on the configured origin and each request within its `Deadline`."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import requests
from requests import PreparedRequest
from requests.auth import AuthBase, HTTPBasicAuth

from .deadline import DeadlineAdapter
from .errors import ApiError
from .models import ApiKeyAuth, ApiSource, Auth, BasicAuth, BearerAuth


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


class CredentialsStayHome(requests.Session):
    """A session that refuses to follow a redirect to another origin while the source has credentials or headers.

    `requests` strips only `Authorization` on such a redirect: an API key header, the query key and every
    configured header would go along. Next-page links get the same rule (`_check_same_origin`).
    """

    def __init__(self, source: ApiSource):
        super().__init__()
        self.source = source
        self.headers.update(source.headers)
        self.auth = build_auth(source.auth)
        for prefix in ("http://", "https://"):
            self.mount(prefix, DeadlineAdapter())

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        if (self.source.auth or self.source.headers) and self.should_strip_auth(
            response.request.url or "", prepared_request.url or ""
        ):
            shown = self.source.shown_url
            raise ApiError(
                f"{shown(response.request.url or '')} redirected to {shown(prepared_request.url or '')}"
                ", another host or scheme; not sending the source's credentials there"
            )
        super().rebuild_auth(prepared_request, response)
