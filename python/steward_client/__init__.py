# SPDX-License-Identifier: Apache-2.0
"""Python client for Steward: data sets, SQL, models, serving, search and retrieval,
experiments.

    from steward_client import Client
    c = Client("http://steward:8080", key="...", tenant="acme")
    table = c.read_table("churn_features", version="latest")          # pyarrow.Table, verified
    links = c.links("churn_features", 3, ttl_s=900)                    # hand these to a job
    for batch in from_links(links).iter_batches(batch_size=65536):     # no key needed there
        ...
    c.sql("SELECT type, count(*) AS n FROM events GROUP BY type", purpose="analytics")
    c.recommend("user-42", model="recs", k=10, purpose="personalization")
    c.search("tickets", "parcel never came", purpose="support")
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
__version__ = "0.1.0"  # the server's version (Cargo.toml); checked by crates/cli/tests/python_package.rs
