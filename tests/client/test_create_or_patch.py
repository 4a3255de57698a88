"""create_or_patch: controller-runtime's CreateOrPatch results, on both servers."""

from __future__ import annotations

from typing import Any

from pycontroller import OperationResult
from pycontroller.client import RestClient
from pycontroller.controllerutil import create_or_patch, create_or_update
from tests.conformance._support import crd_manifest, rv, temporary_crd, unique


async def test_create_or_patch_creates_updates_the_object_or_its_status_separately_or_nothing(
    rest_client: RestClient, namespace: str
) -> None:
    group = f"{unique('cop')}.example.com"
    async with temporary_crd(rest_client, crd_manifest(group, "Widget")) as widgets:

        def desired(size: int, phase: str | None = None) -> Any:
            def mutate(obj: dict[str, Any]) -> None:
                obj.setdefault("spec", {})["size"] = size
                if phase is not None:
                    obj.setdefault("status", {})["phase"] = phase

            return mutate

        def widget() -> dict[str, Any]:
            return {
                "apiVersion": f"{group}/v1",
                "kind": "Widget",
                "metadata": {"name": "w", "namespace": namespace},
            }

        obj = widget()
        assert await create_or_patch(rest_client, obj, desired(1)) is OperationResult.CREATED
        assert obj["spec"] == {"size": 1} and obj["metadata"]["uid"]

        obj = widget()
        assert await create_or_patch(rest_client, obj, desired(2)) is OperationResult.UPDATED
        assert obj["spec"] == {"size": 2} and "status" not in obj

        obj = widget()
        assert (
            await create_or_patch(rest_client, obj, desired(2, "Ready"))
            is OperationResult.UPDATED_STATUS_ONLY
        )
        assert obj["status"] == {"phase": "Ready"}

        obj = widget()
        assert (
            await create_or_patch(rest_client, obj, desired(3, "Scaling")) is OperationResult.UPDATED_STATUS
        )
        assert (obj["spec"], obj["status"]) == ({"size": 3}, {"phase": "Scaling"})

        before = rv(obj)
        obj = widget()
        assert await create_or_patch(rest_client, obj, desired(3, "Scaling")) is OperationResult.UNCHANGED
        assert rv(obj) == before == rv(await rest_client.get(widgets, "w", namespace))


async def test_create_or_update_finds_the_resource_of_an_irregular_plural(
    rest_client: RestClient, namespace: str
) -> None:
    group = f"{unique('cou')}.example.com"
    manifest = crd_manifest(group, "Index")
    manifest["spec"]["names"]["plural"] = "indices"  # a guessed plural ("indexes") would miss it
    manifest["metadata"]["name"] = f"indices.{group}"
    async with temporary_crd(rest_client, manifest):
        obj = {
            "apiVersion": f"{group}/v1",
            "kind": "Index",
            "metadata": {"name": "p", "namespace": namespace},
        }
        result = await create_or_update(rest_client, obj, lambda o: o.update(spec={"x": 1}))
        assert result is OperationResult.CREATED
        obj = {
            "apiVersion": f"{group}/v1",
            "kind": "Index",
            "metadata": {"name": "p", "namespace": namespace},
        }
        assert (
            await create_or_update(rest_client, obj, lambda o: o.update(spec={"x": 1}))
            is OperationResult.UNCHANGED
        )
