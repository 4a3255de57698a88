"""Per-resource cache options: what an informer lists and watches, and how it stores it.

controller-runtime's ``cache.Options`` in our terms. A :class:`CacheOptions` holds defaults for
every informer (namespaces, selectors, a transform) and :class:`ByObject` overrides per resource::

    Manager(..., cache=CacheOptions(
        by_object={("", "secrets"): ByObject(label_selector="app=x")},
        default_namespaces=["team-a", "team-b"],
    ))

Keys of ``by_object`` are ``(group, resource)`` (``("", "secrets")``, ``("apps", "deployments")``)
or ``(group, Kind)`` (``("", "Secret")``); a Kind key applies when the informer is asked for with
its kind (``SharedInformerFactory.informer_for(..., kind="Secret")``, which the Manager does when it
resolves kinds through its RESTMapper).

Resolution for one resource: each field of its :class:`ByObject` wins where set; unset fields take
the :class:`CacheOptions` defaults. The result is an :class:`InformerOptions`, checked when the
informer is made: a label selector that does not parse raises
:class:`~pycontroller.labels.SelectorError` with the parser's message, a bad field selector too
(client-go's ``fields.ParseSelector`` syntax: ``key=value``, ``key==value``, ``key!=value``,
comma-separated, ``\\`` escaping ``,``, ``=``, ``!`` and ``\\``). Asking again for an informer that
exists with other options raises :class:`InformerOptionsConflictError` rather than silently
reusing the first one.

Transforms: new informers drop ``metadata.managedFields`` by default
(:func:`~pycontroller.cache.informer.drop_managed_fields`; measured: a cached ConfigMap shrinks by
about half). Pass ``default_transform=None`` (or ``ByObject(transform=None)``) to keep them.

Nothing here suspends or does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from pycontroller.cache.informer import drop_managed_fields
from pycontroller.errors import ConfigError
from pycontroller.labels import SelectorError
from pycontroller.labels import parse as parse_label_selector

__all__ = [
    "METADATA_ONLY_ACCEPT",
    "METADATA_ONLY_WATCH_ACCEPT",
    "ByObject",
    "CacheOptions",
    "InformerOptions",
    "InformerOptionsConflictError",
    "OutsideCacheScopeError",
    "Transform",
    "parse_field_selector",
]

Transform = Callable[[Any], Any]

#: The Accept header of a metadata-only list (the server answers a PartialObjectMetadataList).
METADATA_ONLY_ACCEPT: Final = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
#: The Accept header of a metadata-only watch (each event's object is a PartialObjectMetadata).
METADATA_ONLY_WATCH_ACCEPT: Final = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"


class _Unset:
    """The marker of an option left unset (distinct from None, which means "none")."""

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final = _Unset()


class InformerOptionsConflictError(ConfigError):
    """An informer was asked for with options other than those it was made with."""


class OutsideCacheScopeError(ConfigError, LookupError):
    """A read from the cache of an object its informer does not watch (another namespace).

    controller-runtime's multi-namespace cache answers such reads with an error too: a NotFound
    would claim the object does not exist, when the cache simply cannot know.
    """


def parse_field_selector(text: str) -> list[tuple[str, str, str]]:
    """Parse a field selector into ``(field, operator, value)`` terms; ``""`` selects everything.

    The syntax of client-go's ``fields.ParseSelector``: terms separated by ``,``, each
    ``field=value``, ``field==value`` (the same) or ``field!=value``; a backslash escapes ``\\``,
    ``,``, ``=`` and ``!`` in values. Raises :class:`~pycontroller.labels.SelectorError` naming the
    term it cannot understand. Whether the server supports the field is not checked here (the
    server answers 400 for an unsupported field at the first list).
    """
    if not isinstance(text, str):
        raise TypeError(f"a field selector string is expected, got {type(text).__name__}")
    terms: list[tuple[str, str, str]] = []
    if not text.strip():
        return terms
    for raw in _split_terms(text):
        term = _split_term(raw)
        if term is None:
            raise SelectorError(f"invalid field selector {text!r}: cannot understand {raw!r}")
        key, op, value = term
        if not key.strip():
            raise SelectorError(f"invalid field selector {text!r}: {raw!r} has no field name")
        terms.append((key.strip(), op, _unescape(value, text)))
    return terms


def _split_terms(text: str) -> list[str]:
    terms: list[str] = []
    start = 0
    escaped = False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    # The field name runs to the first unescaped operator, as in client-go's splitTerm.
    escaped = False
    for i, ch in enumerate(term):
        if escaped:
            escaped = False
            continue
        if ch == "\\":
            escaped = True
            continue
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None


def _unescape(value: str, text: str) -> str:
    out: list[str] = []
    escaped = False
    for ch in value:
        if escaped:
            if ch not in "\\,=!":
                raise SelectorError(f"invalid field selector {text!r}: invalid escape sequence '\\{ch}'")
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in "=!":
            raise SelectorError(f"invalid field selector {text!r}: unescaped {ch!r} in value {value!r}")
        else:
            out.append(ch)
    if escaped:
        raise SelectorError(f"invalid field selector {text!r}: a value ends with a lone backslash")
    return "".join(out)


def _check_namespaces(namespaces: Iterable[str] | None, where: str) -> tuple[str, ...] | None:
    if namespaces is None:
        return None
    if isinstance(namespaces, str):
        raise ConfigError(f"{where}: namespaces must be a list of names, not the string {namespaces!r}")
    result: list[str] = []
    for ns in namespaces:
        if not isinstance(ns, str):
            raise ConfigError(f"{where}: a namespace must be a string, got {type(ns).__name__}")
        if ns not in result:
            result.append(ns)
    if "" in result and len(result) > 1:
        raise ConfigError(f"{where}: '' (all namespaces) cannot be combined with other namespaces")
    if not result:
        raise ConfigError(f"{where}: an empty namespaces list would cache nothing; use None for all")
    return tuple(sorted(result))


@dataclass(frozen=True)
class ByObject:
    """Cache options of one resource; unset fields take the :class:`CacheOptions` defaults.

    ``label_selector`` / ``field_selector``: only objects matching them are listed, watched and
    cached (an object that stops matching leaves the cache with a delete to handlers).
    ``namespaces``: cache only these namespaces (one reflector each, one cache; ``[""]`` or None
    with no default: all). ``transform``: applied to every object before it is cached (None: none).
    """

    label_selector: str | _Unset | None = UNSET
    field_selector: str | _Unset | None = UNSET
    namespaces: Sequence[str] | _Unset | None = UNSET
    transform: Transform | _Unset | None = UNSET


@dataclass(frozen=True)
class InformerOptions:
    """The resolved options of one informer (what it was made with; compared on reuse).

    ``namespaces`` is None (all namespaces) or a sorted tuple of names.
    """

    namespaces: tuple[str, ...] | None = None
    label_selector: str | None = None
    field_selector: str | None = None
    transform: Transform | None = None
    metadata_only: bool = False

    def validate(self, where: str) -> None:
        """Parse both selectors: SelectorError (with the parse error) for a bad one."""
        if self.label_selector:
            try:
                parse_label_selector(self.label_selector)
            except SelectorError as exc:
                raise SelectorError(f"{where}: invalid label selector: {exc}") from None
        if self.field_selector:
            try:
                parse_field_selector(self.field_selector)
            except SelectorError as exc:
                raise SelectorError(f"{where}: {exc}") from None
        if self.transform is not None and not callable(self.transform):
            raise ConfigError(f"{where}: transform must be callable, got {type(self.transform).__name__}")

    def covers_namespace(self, namespace: str | None) -> bool:
        """Whether objects of ``namespace`` (None: every namespace, or cluster-scoped) are cached."""
        if self.namespaces is None:
            return True
        return namespace is not None and namespace in self.namespaces

    def check_namespace(self, what: str, namespace: str | None) -> None:
        """Raise :class:`OutsideCacheScopeError` when ``namespace`` is not cached (``what``: the read)."""
        if not self.covers_namespace(namespace):
            scope = ", ".join(self.namespaces or ())
            where = f"namespace {namespace!r}" if namespace is not None else "all namespaces"
            raise OutsideCacheScopeError(
                f"{what}: {where} is outside the cache, which holds only namespaces [{scope}] "
                "(see CacheOptions / ByObject namespaces); read it with the API client instead"
            )

    def differences(self, other: InformerOptions) -> list[str]:
        """The names of the fields that differ (for the conflict message)."""
        return [
            f"{name}: {getattr(self, name)!r} != {getattr(other, name)!r}"
            for name in ("namespaces", "label_selector", "field_selector", "transform", "metadata_only")
            if getattr(self, name) != getattr(other, name)
        ]


@dataclass(frozen=True)
class CacheOptions:
    """Defaults for every informer and :class:`ByObject` overrides per resource (see module docs).

    ``default_namespaces``: None (all, or the factory's ``namespace``) or a list of namespaces.
    ``default_label_selector`` / ``default_field_selector``: for resources without their own.
    ``default_transform``: :func:`drop_managed_fields` unless given; None keeps objects whole.
    """

    by_object: Mapping[tuple[str, str], ByObject] = field(default_factory=dict)
    default_namespaces: Sequence[str] | None = None
    default_label_selector: str | None = None
    default_field_selector: str | None = None
    default_transform: Transform | None = drop_managed_fields

    def __post_init__(self) -> None:
        for key, value in self.by_object.items():
            if not (isinstance(key, tuple) and len(key) == 2 and all(isinstance(p, str) for p in key)):
                raise ConfigError(
                    f"CacheOptions.by_object keys are (group, resource) or (group, Kind) pairs, got {key!r}"
                )
            if not isinstance(value, ByObject):
                raise ConfigError(f"CacheOptions.by_object[{key!r}] must be a ByObject, got {value!r}")
            if not isinstance(value.namespaces, _Unset):
                _check_namespaces(value.namespaces, f"ByObject{key!r}")
        _check_namespaces(self.default_namespaces, "CacheOptions.default_namespaces")

    def by_object_for(self, group: str, resource: str, kind: str | None = None) -> ByObject | None:
        """The overrides of a resource: by (group, resource), else by (group, kind)."""
        found = self.by_object.get((group, resource))
        if found is None and kind:
            found = self.by_object.get((group, kind))
        return found

    def resolve(
        self,
        group: str,
        resource: str,
        *,
        kind: str | None = None,
        namespace: str | None = None,
        explicit: ByObject | None = None,
        metadata_only: bool = False,
    ) -> InformerOptions:
        """The options of one informer: ``explicit`` (given to ``informer_for``) over ``by_object``
        over the defaults; ``namespace`` (the factory's single namespace) when no namespaces are
        configured. Validates them (SelectorError, ConfigError)."""
        where = f"informer for {group or 'core'}/{resource}"
        layers = [b for b in (explicit, self.by_object_for(group, resource, kind)) if b is not None]

        def pick(name: str, default: Any) -> Any:
            for layer in layers:
                value = getattr(layer, name)
                if not isinstance(value, _Unset):
                    return value
            return default

        default_ns: Sequence[str] | None = self.default_namespaces
        if default_ns is None and namespace:
            default_ns = [namespace]
        namespaces = _check_namespaces(pick("namespaces", default_ns), where)
        if namespaces == ("",):
            namespaces = None
        options = InformerOptions(
            namespaces=namespaces,
            label_selector=pick("label_selector", self.default_label_selector) or None,
            field_selector=pick("field_selector", self.default_field_selector) or None,
            transform=pick("transform", self.default_transform),
            metadata_only=metadata_only,
        )
        options.validate(where)
        return options
