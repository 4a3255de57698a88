"""Installing CustomResourceDefinitions before a test server is handed out (envtest's CRDInstallOptions).

``FakeAPIServer(crds=[...])``, ``EnvTest(crds=[...])`` and the ``@pytest.mark.crds(...)`` marker take
a list of *sources*: paths of YAML or JSON files (several documents per file allowed), paths of
directories (every ``*.yaml``, ``*.yml`` and ``*.json`` file in them, not recursive, in name
order, like controller-runtime's envtest), or CRDs as dicts.

:func:`load_crds` reads them (blocking file reads, never suspends) and raises
:class:`CRDInstallError` naming the file for a missing path, unparsable YAML, or a document that is
not a CustomResourceDefinition. :func:`install_crds_http` creates them on a real server (an
existing CRD of the same name is updated) and waits until each is Established and every served
version is in discovery; one that is not after ``timeout`` seconds raises
:class:`CRDNotEstablishedError` naming it and its conditions.
"""

from __future__ import annotations

import json
import os
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from pycontroller.errors import ConfigError

__all__ = [
    "CRDInstallError",
    "CRDNotEstablishedError",
    "CRDSource",
    "install_crds_http",
    "load_crds",
    "not_established_reason",
]

CRDSource = str | os.PathLike[str] | Mapping[str, Any]
_EXTENSIONS = (".yaml", ".yml", ".json")
_CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


class CRDInstallError(ConfigError):
    """A CRD source could not be read or installed; the message names the file or the CRD."""


class CRDNotEstablishedError(CRDInstallError, TimeoutError):
    """A CRD did not become Established (and served) in time; the message names it and why."""


def _documents(path: Path) -> list[Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise CRDInstallError(f"{path}: cannot read CRD file: {exc.strerror or exc}") from None
    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" (line {mark.line + 1}, column {mark.column + 1})"
        problem = getattr(exc, "problem", None) or str(exc)
        raise CRDInstallError(f"{path}: not valid YAML{where}: {problem}") from None


def _check(doc: Any, origin: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise CRDInstallError(
            f"{origin}: not a CustomResourceDefinition (a {type(doc).__name__}, not an object)"
        )
    kind, api_version = doc.get("kind"), doc.get("apiVersion")
    if kind != "CustomResourceDefinition" or api_version not in (
        "apiextensions.k8s.io/v1",
        "apiextensions.k8s.io/v1beta1",
    ):
        raise CRDInstallError(
            f"{origin}: not a CustomResourceDefinition (kind {kind!r}, apiVersion {api_version!r})"
        )
    if api_version != "apiextensions.k8s.io/v1":
        raise CRDInstallError(f"{origin}: only apiextensions.k8s.io/v1 CRDs are supported, not {api_version}")
    name = (doc.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not name:
        raise CRDInstallError(f"{origin}: the CustomResourceDefinition has no metadata.name")
    return doc


def load_crds(sources: Iterable[CRDSource]) -> list[dict[str, Any]]:
    """The CRDs of ``sources`` (files, directories, dicts), in order. Blocks on file reads."""
    out: list[dict[str, Any]] = []
    for source in sources:
        if isinstance(source, Mapping):
            out.append(_check(json.loads(json.dumps(source)), "CRD given as a dict"))
            continue
        path = Path(source)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in _EXTENSIONS)
        elif path.exists():
            files = [path]
        else:
            raise CRDInstallError(f"{path}: no such CRD file or directory")
        for file in files:
            for doc in _documents(file):
                out.append(_check(doc, str(file)))
    names = [c["metadata"]["name"] for c in out]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise CRDInstallError(f"CustomResourceDefinition {duplicates[0]!r} is given more than once")
    return out


def not_established_reason(crd: Mapping[str, Any]) -> str | None:
    """None when ``crd`` (as read back) is Established, else its failing conditions as text."""
    conditions = (crd.get("status") or {}).get("conditions") or []
    established = next((c for c in conditions if c.get("type") == "Established"), None)
    if established is not None and established.get("status") == "True":
        return None
    parts = [
        f"{c.get('type')}={c.get('status')} ({c.get('reason')}: {c.get('message')})"
        for c in conditions
        if c.get("status") != "True"
    ]
    return "; ".join(parts) or "no Established condition yet"


def _not_established(name: str, timeout: float, why: str) -> CRDNotEstablishedError:
    return CRDNotEstablishedError(
        f"CustomResourceDefinition {name!r} was not Established and served within {timeout:g} s: {why}"
    )


def install_crds_http(
    url: str,
    headers: Mapping[str, str],
    context: ssl.SSLContext | None,
    crds: list[dict[str, Any]],
    *,
    timeout: float = 10.0,
) -> None:
    """Create or update ``crds`` on the server at ``url`` and wait until each is Established and served.

    Blocks (urllib) up to ``timeout`` seconds for all of them together; raises
    :class:`CRDNotEstablishedError` naming the first that is not ready, :class:`CRDInstallError` when
    the server refuses one (with its message).
    """

    def call(method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url + path, data=data, method=method, headers=dict(headers))
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30, context=context) as resp:
            return json.loads(resp.read())

    for crd in crds:
        name = crd["metadata"]["name"]
        try:
            try:
                call("POST", _CRD_PATH, crd)
            except urllib.error.HTTPError as exc:
                if exc.code != 409:
                    raise
                current = call("GET", f"{_CRD_PATH}/{name}")
                update = {
                    **crd,
                    "metadata": {
                        **crd["metadata"],
                        "resourceVersion": current["metadata"]["resourceVersion"],
                    },
                }
                call("PUT", f"{_CRD_PATH}/{name}", update)
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("message", "")
            except ValueError:
                message = exc.reason
            raise CRDInstallError(
                f"CustomResourceDefinition {name!r} was refused ({exc.code}): {message}"
            ) from None
        except (OSError, ValueError) as exc:
            raise CRDInstallError(
                f"CustomResourceDefinition {name!r}: cannot reach the server: {exc}"
            ) from None
    deadline = time.monotonic() + timeout
    for crd in crds:
        name = crd["metadata"]["name"]
        spec = crd.get("spec") or {}
        group, plural = spec.get("group", ""), (spec.get("names") or {}).get("plural", "")
        versions = [v.get("name") for v in spec.get("versions") or [] if v.get("served")]
        why = "not checked yet"
        while True:
            try:
                why = not_established_reason(call("GET", f"{_CRD_PATH}/{name}")) or ""
                if not why:
                    missing = [
                        v
                        for v in versions
                        if plural not in {r["name"] for r in call("GET", f"/apis/{group}/{v}")["resources"]}
                    ]
                    if not missing:
                        break
                    why = f"versions {missing} not in discovery yet"
            except urllib.error.HTTPError as exc:
                why = f"{exc.code} {exc.reason}"
            except (OSError, ValueError) as exc:
                why = str(exc)
            if time.monotonic() >= deadline:
                raise _not_established(name, timeout, why)
            time.sleep(0.05)
