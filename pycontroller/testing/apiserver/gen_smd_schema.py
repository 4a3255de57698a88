"""Writes ``smd_schema.json``: the field types server-side apply needs, from the real server's OpenAPI.

Run ``python -m pycontroller.testing.apiserver.gen_smd_schema`` (needs ``KUBEBUILDER_ASSETS``; or
``--openapi FILE`` to convert a saved ``/openapi/v2`` document). It starts the real kube-apiserver
with :class:`~pycontroller.testing.EnvTest`, reads ``/openapi/v2`` and keeps, per definition, what
structured-merge-diff derives from it (as kube-openapi's schemaconv does in 1.20):

* structs: their fields and each field's type; ``x-kubernetes-map-type: atomic`` structs;
* maps (``additionalProperties``): their element type;
* lists: ``x-kubernetes-list-type`` (atomic / set / map with ``x-kubernetes-list-map-keys``), or
  else ``x-kubernetes-patch-strategy: merge`` (with ``x-kubernetes-patch-merge-key``: a map keyed by
  it, without: a set); any other list is atomic;
* scalars (strings, numbers, booleans, and the string formats int-or-string, date-time, quantity);
* and which definition each ``group/version/Kind`` is.

The output is compact JSON: a type is ``"s"`` (scalar), ``"u"`` (untyped: shape deduced from the
value), ``"#<definition>"``, ``["l", item, "atomic"|"set"|"map", [keys]]`` or ``["m", item]``;
a definition is ``{"f": {field: type}, "e": element type?, "a": 1 if atomic}``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

OUT = Path(__file__).with_name("smd_schema.json")


def _type(prop: dict[str, Any]) -> Any:
    ref = prop.get("$ref")
    if isinstance(ref, str):
        return "#" + ref.rsplit("/", 1)[-1]
    kind = prop.get("type")
    if kind == "array":
        item = _type(prop.get("items") or {})
        list_type = prop.get("x-kubernetes-list-type")
        if list_type == "map":
            return ["l", item, "map", list(prop.get("x-kubernetes-list-map-keys") or [])]
        if list_type in ("set", "atomic"):
            return ["l", item, list_type, []]
        if list_type is None and prop.get("x-kubernetes-patch-strategy") in ("merge", "merge,retainKeys"):
            key = prop.get("x-kubernetes-patch-merge-key")
            return ["l", item, "map", [key]] if isinstance(key, str) else ["l", item, "set", []]
        return ["l", item, "atomic", []]
    if kind == "object" or (kind is None and ("properties" in prop or "additionalProperties" in prop)):
        if "properties" in prop:
            return _definition(prop)
        extra = prop.get("additionalProperties")
        if isinstance(extra, dict):
            return ["m", _type(extra)]
        return "u"
    if kind in ("string", "integer", "number", "boolean"):
        return "s"
    return "u"


def _definition(schema: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    props = schema.get("properties")
    extra = schema.get("additionalProperties")
    if isinstance(props, dict):
        out["f"] = {name: _type(prop) for name, prop in props.items()}
    if isinstance(extra, dict):
        out["e"] = _type(extra)
    if schema.get("x-kubernetes-map-type") == "atomic":
        out["a"] = 1
    return out


def convert(openapi: dict[str, Any]) -> dict[str, Any]:
    """The compact schema document from an OpenAPI v2 document."""
    definitions: dict[str, Any] = {}
    kinds: dict[str, str] = {}
    for name, schema in sorted((openapi.get("definitions") or {}).items()):
        definitions[name] = _type(schema)
        for gvk in schema.get("x-kubernetes-group-version-kind") or []:
            group, version, kind = gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", "")
            api_version = f"{group}/{version}" if group else version
            kinds.setdefault(f"{api_version}/{kind}", name)
    return {"definitions": definitions, "kinds": dict(sorted(kinds.items()))}


def _fetch_from_envtest() -> dict[str, Any]:
    import ssl
    import urllib.request

    from pycontroller.testing.envtest import EnvTest

    server = EnvTest()
    server.start_sync()
    try:
        context = ssl.create_default_context(cafile=str(server.ca_file))
        request = urllib.request.Request(
            server.url + "/openapi/v2",
            headers={"Authorization": f"Bearer {server.token}", "Accept": "application/json"},
        )
        with urllib.request.urlopen(request, context=context, timeout=60) as response:
            result: dict[str, Any] = orjson.loads(response.read())
            return result
    finally:
        server.stop_sync()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--openapi", help="a saved /openapi/v2 JSON document (default: ask the real server)")
    parser.add_argument("--out", default=str(OUT), help=f"where to write (default {OUT})")
    args = parser.parse_args(argv)
    if args.openapi:
        openapi = orjson.loads(Path(args.openapi).read_bytes())
    else:
        openapi = _fetch_from_envtest()
    data = convert(openapi)
    Path(args.out).write_bytes(orjson.dumps(data, option=orjson.OPT_SORT_KEYS) + b"\n")
    print(f"wrote {len(data['definitions'])} definitions, {len(data['kinds'])} kinds to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
