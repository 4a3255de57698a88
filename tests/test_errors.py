from __future__ import annotations

import pytest

from pycontroller.errors import (
    AlreadyExistsError,
    ApiError,
    ConflictError,
    GoneError,
    InvalidObjectError,
    NotFoundError,
    PyControllerError,
    ServerError,
    TooManyRequestsError,
    api_error_from_status,
)


def test_a_not_found_status_becomes_a_not_found_error_with_the_status_fields() -> None:
    body = {
        "kind": "Status",
        "status": "Failure",
        "reason": "NotFound",
        "message": 'configmaps "x" not found',
        "details": {"name": "x", "kind": "configmaps"},
        "code": 404,
    }
    err = api_error_from_status(404, body)
    assert isinstance(err, NotFoundError)
    assert isinstance(err, ApiError) and isinstance(err, PyControllerError)
    assert (err.status, err.reason, err.message) == (404, "NotFound", 'configmaps "x" not found')
    assert err.details == {"name": "x", "kind": "configmaps"}
    assert 'configmaps "x" not found' in str(err)


def test_a_409_with_reason_already_exists_is_a_conflict_of_the_already_exists_kind() -> None:
    err = api_error_from_status(409, {"reason": "AlreadyExists"})
    assert isinstance(err, AlreadyExistsError)
    assert isinstance(err, ConflictError)
    plain = api_error_from_status(409, {"reason": "Conflict"})
    assert type(plain) is ConflictError


@pytest.mark.parametrize(
    ("code", "cls"), [(410, GoneError), (500, ServerError), (504, ServerError), (418, ApiError)]
)
def test_codes_map_to_the_most_specific_error(code: int, cls: type[ApiError]) -> None:
    assert type(api_error_from_status(code, None)) is cls


def test_a_429_carries_the_retry_after_hint() -> None:
    err = api_error_from_status(429, {"reason": "TooManyRequests"}, retry_after=3.0)
    assert isinstance(err, TooManyRequestsError)
    assert err.retry_after == 3.0


def test_a_body_that_is_not_a_status_still_gives_an_error() -> None:
    err = api_error_from_status(500, {"unexpected": [1, 2]})
    assert isinstance(err, ServerError)
    assert err.reason == "" and err.message == ""


def test_invalid_object_errors_are_also_value_errors() -> None:
    assert issubclass(InvalidObjectError, ValueError)


@pytest.mark.parametrize(
    ("code", "reason", "cls"),
    [
        (405, "MethodNotAllowed", "MethodNotAllowedError"),
        (413, "RequestEntityTooLarge", "RequestEntityTooLargeError"),
        (415, "UnsupportedMediaType", "UnsupportedMediaTypeError"),
        (422, "Invalid", "InvalidError"),
        (409, "Conflict", "ConflictError"),
    ],
)
def test_each_status_code_users_catch_has_its_exported_error_with_reason_message_and_causes(
    code: int, reason: str, cls: str
) -> None:
    import pycontroller

    causes = [{"reason": "FieldValueInvalid", "message": "bad", "field": "spec.x"}]
    body = {"kind": "Status", "reason": reason, "message": "no", "code": code, "details": {"causes": causes}}
    error = api_error_from_status(code, body)
    assert type(error) is getattr(pycontroller, cls)
    assert (error.reason, error.message, error.causes) == (reason, "no", causes)
    assert api_error_from_status(code, {}).causes == []


def test_the_error_tree_in_the_errors_docstring_names_every_error_of_the_family() -> None:
    import importlib
    import pkgutil

    import pycontroller
    from pycontroller import errors

    for info in pkgutil.walk_packages(pycontroller.__path__, "pycontroller."):
        if ".testing" not in info.name and not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    family: set[type] = set()
    todo = [errors.PyControllerError]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub.__module__.startswith("pycontroller.") and ".testing" not in sub.__module__:
                family.add(sub)
            todo.append(sub)
    missing = sorted(
        c.__name__
        for c in family
        if not c.__name__.startswith("_") and c.__name__ not in (errors.__doc__ or "")
    )
    assert not missing, f"add these to the tree in pycontroller/errors.py: {missing}"
