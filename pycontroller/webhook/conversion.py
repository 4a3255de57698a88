"""CRD conversion webhooks: ConversionReview in, every object converted through the hub out.

Like controller-runtime's hub-and-spoke conversion, each kind has one **hub** version and any number
of **spoke** versions, each with a ``to_hub(obj) -> obj`` and a ``from_hub(obj) -> obj`` function
(plain or async). Converting from version A to version B goes A -> hub -> B (a step is skipped when
A or B is the hub; nothing runs when A == B). A function gets its own deep copy of the object and
returns the converted object; the library sets ``apiVersion`` on the result, so functions only move
fields.

Both ``apiextensions.k8s.io/v1`` and ``v1beta1`` ConversionReviews are served (the answer has the
request's apiVersion). If any function raises, or an object has a kind or version nobody registered,
the whole review answers ``result.status: Failure`` with the message: the API server then refuses
the request, and nothing half-converted is stored.
"""

from __future__ import annotations

import copy
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .admission import ReviewError, parse_review, review_body

__all__ = ["CONVERSION_REVIEW_VERSIONS", "ConversionFunc", "ConversionWebhook", "Converter"]

log = logging.getLogger("pycontroller.webhook")

CONVERSION_REVIEW_VERSIONS = ("apiextensions.k8s.io/v1", "apiextensions.k8s.io/v1beta1")

ConversionFunc = Callable[[dict[str, Any]], "dict[str, Any] | Awaitable[dict[str, Any]]"]
"""Converts one object (a dict) between a spoke version and the hub; plain or async."""


class ConversionFailed(Exception):
    """One object could not be converted (answered as a Failure result)."""


class Converter:
    """The versions of one kind: ``hub_version`` and ``spokes`` (version -> (to_hub, from_hub))."""

    def __init__(
        self,
        group: str,
        kind: str,
        hub_version: str,
        spokes: Mapping[str, tuple[ConversionFunc, ConversionFunc]],
    ) -> None:
        if not group or not kind or not hub_version:
            raise ValueError("a conversion needs a group, a kind and a hub version")
        for version, funcs in spokes.items():
            if version == hub_version:
                raise ValueError(f"{kind}: the hub version {hub_version!r} cannot also be a spoke")
            if not (isinstance(funcs, tuple) and len(funcs) == 2 and all(callable(f) for f in funcs)):
                raise TypeError(f"{kind} spoke {version!r}: expected a (to_hub, from_hub) pair of functions")
        self.group = group
        self.kind = kind
        self.hub_version = hub_version
        self.spokes = dict(spokes)

    @property
    def versions(self) -> list[str]:
        return [self.hub_version, *self.spokes]

    async def convert(self, obj: dict[str, Any], version: str) -> dict[str, Any]:
        """``obj`` at ``version`` (a new dict). Raises ConversionFailed naming what went wrong."""
        current = str(obj.get("apiVersion", "")).rpartition("/")[2]
        if current == version:
            return obj
        for v in (current, version):
            if v != self.hub_version and v not in self.spokes:
                raise ConversionFailed(
                    f"{self.kind}.{self.group}: no conversion registered for version {v!r} "
                    f"(known: {', '.join(self.versions)})"
                )
        out = copy.deepcopy(obj)
        if current != self.hub_version:
            out = await self._call(self.spokes[current][0], out, self.hub_version)
        if version != self.hub_version:
            out = await self._call(self.spokes[version][1], out, version)
        return out

    async def _call(self, fn: ConversionFunc, obj: dict[str, Any], version: str) -> dict[str, Any]:
        result: Any = fn(obj)
        if inspect.isawaitable(result):
            result = await result
        if not isinstance(result, dict):
            raise ConversionFailed(
                f"{getattr(fn, '__name__', fn)!r} returned {type(result).__name__}, not an object"
            )
        result["apiVersion"] = f"{self.group}/{version}"
        result["kind"] = self.kind
        return result


class ConversionWebhook:
    """Serves every registered :class:`Converter` on one path (controller-runtime's ``/convert``)."""

    def __init__(self) -> None:
        self.converters: dict[tuple[str, str], Converter] = {}

    def add(self, converter: Converter) -> None:
        key = (converter.group, converter.kind)
        if key in self.converters:
            raise ValueError(f"a conversion for {converter.kind}.{converter.group} is already registered")
        self.converters[key] = converter

    async def review(self, body: bytes) -> bytes:
        """The ConversionReview answer to ``body``; :class:`ReviewError` when it is not one."""
        api_version, request = parse_review(body, "ConversionReview", CONVERSION_REVIEW_VERSIONS)
        uid = request.get("uid")
        if not isinstance(uid, str) or not uid:
            raise ReviewError("the ConversionReview request has no uid")
        desired = request.get("desiredAPIVersion")
        objects = request.get("objects")
        if not isinstance(desired, str) or "/" not in desired:
            raise ReviewError(f"the ConversionReview has no usable desiredAPIVersion ({desired!r})")
        if not isinstance(objects, list):
            raise ReviewError("the ConversionReview request has no objects list")
        response: dict[str, Any] = {"uid": uid}
        try:
            response["convertedObjects"] = [await self._convert(obj, desired) for obj in objects]
            response["result"] = {"status": "Success"}
        except Exception as exc:  # any failure fails the whole review; the API server refuses
            if not isinstance(exc, ConversionFailed):
                log.exception("Conversion to %s failed", desired)
            response["convertedObjects"] = []
            response["result"] = {"status": "Failure", "message": str(exc) or type(exc).__name__}
        return review_body(api_version, "ConversionReview", response)

    async def _convert(self, obj: Any, desired: str) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise ConversionFailed(f"cannot convert a {type(obj).__name__}, expected an object")
        group, _, version = desired.rpartition("/")
        current_group = str(obj.get("apiVersion", "")).rpartition("/")[0]
        if current_group != group:
            raise ConversionFailed(
                f"cannot convert {obj.get('apiVersion')!r} to {desired!r}: different groups"
            )
        converter = self.converters.get((group, str(obj.get("kind", ""))))
        if converter is None:
            raise ConversionFailed(
                f"no conversion registered for kind {obj.get('kind')!r} in group {group!r}"
            )
        return await converter.convert(obj, version)
