# SPDX-License-Identifier: Apache-2.0
"""Python client for Steward's versioned training data sets.

    from steward_client import Client
    c = Client("http://steward:8080", key="...", tenant="acme")
    table = c.read_table("churn_features", version="latest")          # pyarrow.Table, verified
    links = c.links("churn_features", 3, ttl_s=900)                    # hand these to a job
    for batch in from_links(links).iter_batches(batch_size=65536):     # no key needed there
        ...
"""

from .client import (
    Client,
    IntegrityError,
    RemoteFile,
    StewardError,
    VersionReader,
    content_sha256,
    from_links,
)

__all__ = [
    "Client",
    "IntegrityError",
    "RemoteFile",
    "StewardError",
    "VersionReader",
    "content_sha256",
    "from_links",
]
__version__ = "0.1.0"
