"""What the in-memory server cannot do without nodes is refused with a clear 503."""

from __future__ import annotations

import pytest

from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.errors import ApiError
from pycontroller.testing.apiserver import FakeAPIServer
from pycontroller.testing.apiserver.samples import sample


async def test_kubelet_subresources_answer_503_naming_them() -> None:
    async with FakeAPIServer() as server:
        client = RestClient(server.new_client(), owns_api_client=True)
        try:
            pods = GroupVersionResource("", "v1", "pods")
            await client.create(pods, sample("", "pods", "p", "default"), namespace="default")
            for method, sub in (("GET", "log"), ("POST", "exec"), ("GET", "portforward")):
                with pytest.raises(ApiError) as refused:
                    await client.request(method, f"/api/v1/namespaces/default/pods/p/{sub}")
                assert (refused.value.status, refused.value.reason) == (503, "ServiceUnavailable")
                assert f"pods/{sub} is not available" in refused.value.message
            etcd = await client.request("GET", "/api/v1/componentstatuses/etcd-0")
            assert etcd["conditions"][0]["status"] == "True"
        finally:
            await client.close()
