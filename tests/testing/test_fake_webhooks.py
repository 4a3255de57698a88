"""The fake server's admission path against a model: denied writes never land, mutations always do.

Random sequences of creates, replaces, merge patches and deletes of three ConfigMaps go through a
mutating webhook (stamps a label and the value's length) and a validating webhook (refuses the value
"bad", and deleting an object whose value is "keep"). After every step the server's objects equal
the model's. The same rules hold on the real server (tests/conformance/test_webhooks.py); this test
explores many more orders on the fake.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pycontroller.client import GroupVersionResource, RestClient
from pycontroller.errors import ApiError, ForbiddenError, NotFoundError
from pycontroller.testing import FakeAPIServer
from pycontroller.webhook import (
    AdmissionRequest,
    AdmissionResponse,
    WebhookServer,
    denied,
    webhook_configurations,
)

CONFIGMAPS = GroupVersionResource("", "v1", "configmaps")
NAMES = ["a", "b", "c"]
VALUES = ["x", "yy", "bad", "keep"]
steps = st.lists(
    st.tuples(
        st.sampled_from(["create", "replace", "patch", "delete"]),
        st.sampled_from(NAMES),
        st.sampled_from(VALUES),
    ),
    min_size=1,
    max_size=15,
)


def mutate(request: AdmissionRequest) -> dict[str, Any] | None:
    obj = request.object
    if obj is None:
        return None
    obj["metadata"].setdefault("labels", {})["mutated"] = "yes"
    data = obj.setdefault("data", {})
    data["length"] = str(len(data.get("v", "")))
    return obj


def validate(request: AdmissionRequest) -> AdmissionResponse | None:
    if request.operation == "DELETE":
        if ((request.old_object or {}).get("data") or {}).get("v") == "keep":
            return denied("kept")
        return None
    if ((request.object or {}).get("data") or {}).get("v") == "bad":
        return denied("bad value")
    return None


async def scenario(ops: list[tuple[str, str, str]]) -> None:
    hooks = WebhookServer(host="127.0.0.1", port=0, self_signed=True)
    hooks.add_mutator("v1", "ConfigMap", mutate)
    hooks.add_validator("v1", "ConfigMap", validate, operations=("CREATE", "UPDATE", "DELETE"))
    async with FakeAPIServer() as server:
        await hooks.start()
        rest = RestClient(server.new_client(), owns_api_client=True)
        try:
            for config in webhook_configurations(hooks, name="model", url=hooks.url):
                plural = config["kind"].lower() + "s"
                await rest.request("POST", f"/apis/admissionregistration.k8s.io/v1/{plural}", body=config)
            model: dict[str, str] = {}
            for op, name, value in ops:
                await step(rest, model, op, name, value)
                listing = await rest.list(CONFIGMAPS, "default")
                stored = {
                    i["metadata"]["name"]: i for i in listing["items"] if i["metadata"]["name"] in NAMES
                }
                assert {n: o["data"]["v"] for n, o in stored.items()} == model
                for obj in stored.values():
                    assert obj["metadata"]["labels"] == {"mutated": "yes"}
                    assert obj["data"]["length"] == str(len(obj["data"]["v"]))
        finally:
            await rest.close()
            await hooks.stop()


async def step(rest: RestClient, model: dict[str, str], op: str, name: str, value: str) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}}
    try:
        if op == "create":
            await rest.create(CONFIGMAPS, {**cm, "data": {"v": value}})
        elif op == "replace":
            current = await rest.get(CONFIGMAPS, name, "default")
            await rest.replace(CONFIGMAPS, {**current, "data": {"v": value}})
        elif op == "patch":
            await rest.patch(CONFIGMAPS, name, {"data": {"v": value}}, "default")
        else:
            await rest.delete(CONFIGMAPS, name, "default")
    except ForbiddenError as exc:
        assert (op != "delete" and value == "bad") or (op == "delete" and model.get(name) == "keep"), exc
        return
    except NotFoundError:
        assert op != "create" and name not in model
        return
    except ApiError as exc:
        assert op == "create" and name in model and exc.status == 409, exc
        return
    assert value != "bad" or op == "delete"
    if op == "delete":
        assert model.get(name) != "keep"
        model.pop(name)
    else:
        model[name] = value


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=steps)
def test_denied_writes_never_land_and_every_stored_object_is_mutated(ops: list[tuple[str, str, str]]) -> None:
    asyncio.run(scenario(ops))
