"""`type: azure`: blobs of an Azure Storage container, read through pyarrow's `AzureFileSystem`."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field

from elt_dagster.engine.sources.objects.models import ObjectSource, endpoint_parts

if TYPE_CHECKING:
    from pyarrow.fs import AzureFileSystem

_AZURE_ERROR = re.compile(r"Azure Error: \[(?P<code>\w*)\]\s*(?P<status>\d*)\s*(?P<detail>.*)$", re.S)
_REASONS = {
    "AuthenticationFailed": "the credentials were refused (check account_key)",
    "AuthorizationFailure": "the credentials were refused (check account_key)",
    "AuthorizationPermissionMismatch": "access denied (the credentials may not read this container or prefix)",
    "AuthorizationResourceTypeMismatch": "access denied (the credentials may not read this container or prefix)",
    "ContainerNotFound": "the container does not exist",
    "BlobNotFound": "the blob does not exist (deleted since it was listed?)",
    "AccountIsDisabled": "the storage account is disabled",
}


class AzureSource(ObjectSource):
    """Blobs of an Azure Storage account's container (or of Azurite, the emulator): those under a prefix whose name
    matches `pattern`, or one blob.

    Read through pyarrow's `AzureFileSystem` (the Azure SDK for C++ inside pyarrow: no new dependency), which
    streams a blob in ranges; with `account_key` the account's shared key signs the requests, without it the
    Azure default credential chain (environment, workload identity, managed identity, the Azure CLI's login)."""

    SCHEME: ClassVar[str] = "az"
    BUCKET_WORD: ClassVar[str] = "container"
    type: Literal["azure"]
    url: str
    """`az://container/prefix/` (the blobs under it that match `pattern`) or `az://container/name.csv` (one blob)."""
    account_name: str = Field(min_length=1)
    """The storage account (`https://<account_name>.blob.core.windows.net`)."""
    account_key: str | None = Field(default=None, repr=False)
    """The account's access key (usually `${ENV}`); left out: the Azure default credential chain."""
    endpoint_url: str | None = None
    """The Blob service's address when it is not Azure's (Azurite: `http://127.0.0.1:10000`)."""

    def secret_values(self) -> list[str]:
        """The account key."""
        return [self.account_key] if self.account_key else []

    def filesystem(self) -> AzureFileSystem:
        """pyarrow's Azure filesystem on the account: its endpoint (blob and data lake service alike) and key."""
        from pyarrow.fs import AzureFileSystem

        options: dict[str, str] = {"account_name": self.account_name}
        if self.account_key:
            options["account_key"] = self.account_key
        if self.endpoint_url:
            scheme, authority = endpoint_parts(self.endpoint_url)
            options |= {"blob_storage_authority": authority, "blob_storage_scheme": scheme}
            # pyarrow asks the data lake service whether the account has a hierarchical namespace: the same address
            options |= {"dfs_storage_authority": authority, "dfs_storage_scheme": scheme}
        return AzureFileSystem(**options)

    def error_reason(self, text: str) -> str | None:
        """An `Azure Error: [Code] status` of pyarrow's Azure filesystem for a person."""
        found = _AZURE_ERROR.search(text)
        if not found:
            return None
        code, detail = found["code"], found["detail"]
        if not code and "connection" in detail.lower():
            address = self.endpoint_url or f"https://{self.account_name}.blob.core.windows.net"
            return f"can't reach {address} ({_first_sentence(detail.rpartition('. ')[2] or detail)})"
        return _REASONS.get(code) or _first_sentence(detail) or f"HTTP {found['status']} {code}".strip()


def _first_sentence(text: str) -> str:
    """The first sentence of the store's message (it repeats itself, then adds request ids and times)."""
    return text.split(". ")[0].split(" RequestId:")[0].strip().rstrip(".")
