"""Fixtures of the conformance suite (the API-server fixtures come from pycontroller's pytest plugin)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from pycontroller.client import GroupVersionResource, RestClient

from ._support import crd_manifest, temporary_crd, unique


@pytest_asyncio.fixture
async def widget_crd(rest_client: RestClient) -> AsyncIterator[tuple[GroupVersionResource, dict[str, Any]]]:
    """A namespaced CRD ``Widget`` (status subresource, short name) in a group unique to the test."""
    manifest = crd_manifest(f"{unique('t')}.example.com", "Widget", short_names=["wdg"])
    async with temporary_crd(rest_client, manifest) as gvr:
        yield gvr, manifest
