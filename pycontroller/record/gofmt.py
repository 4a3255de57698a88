"""Go's ``fmt.Sprintf`` verbs for ``EventRecorder.eventf``, so messages read like client-go's.

Supported: ``%v`` (``%+v`` and ``%#v`` too), ``%s``, ``%d``, ``%q``, ``%t``, ``%x``/``%X``, ``%o``,
``%b``, ``%c``, ``%e``/``%E``, ``%f``/``%F``, ``%g``/``%G``, ``%T`` and ``%%``, with the flags
``-+# 0``, a width and a ``.precision`` (``*`` takes them from the arguments). Python values map to
Go's spelling: ``True`` -> ``true``, ``None`` -> ``<nil>``, floats under ``%v`` in Go's shortest
form (``1e+06``), ``%q`` quotes like ``strconv.Quote``; ``%v`` of other objects is ``str(obj)``
(``%#v`` is ``repr(obj)``). Mistakes are rendered, never raised, as Go does: a missing argument is
``%!v(MISSING)``, a wrong type ``%!d(string=abc)``, leftovers ``%!(EXTRA int=1, string=a)``.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

__all__ = ["go_sprintf"]

_SPEC = re.compile(r"%([-+# 0]*)(\*|\d+)?(?:\.(\*|\d*))?(.)?", re.DOTALL)


def _type_name(value: Any) -> str:
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bytes | bytearray):
        return "[]uint8"
    return type(value).__name__


def _go_float(x: float) -> str:
    """Go's %v for a float64: shortest digits, exponent form when the exponent is < -4 or >= 6."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if x == 0:
        return "-0" if math.copysign(1.0, x) < 0 else "0"
    sign, digits, exponent = Decimal(repr(x)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    exp10 = len(digits) + exponent - 1
    prefix = "-" if sign else ""
    if exp10 < -4 or exp10 >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    if exp10 >= len(text) - 1:
        return prefix + text + "0" * (exp10 - len(text) + 1)
    if exp10 >= 0:
        return f"{prefix}{text[: exp10 + 1]}.{text[exp10 + 1 :]}"
    return f"{prefix}0.{'0' * (-exp10 - 1)}{text}"


def _go_str(value: Any) -> str:
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, list | tuple):
        return "[" + " ".join(_go_str(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{_go_str(k)}:{_go_str(v)}" for k, v in value.items()) + "]"
    return str(value)


def _bad(verb: str, value: Any) -> str:
    return f"%!{verb}({_type_name(value)}={_go_str(value)})"


def _pad(text: str, flags: str, width: int | None) -> str:
    if width is None or len(text) >= width:
        return text
    if "-" in flags:
        return text.ljust(width)
    if "0" in flags and text[:1] in "+-" and text[1:2].isdigit():
        return text[0] + text[1:].rjust(width - 1, "0")
    if "0" in flags and text[:1].isdigit():
        return text.rjust(width, "0")
    return text.rjust(width)


def _format_one(verb: str, flags: str, width: int | None, prec: int | None, value: Any) -> str:
    sign = "+" if "+" in flags else (" " if " " in flags else "")
    if verb == "T":
        return _pad(_type_name(value), flags, width)
    if verb in "vs":
        if verb == "v" and "#" in flags:
            text = repr(value)
        elif verb == "s" and isinstance(value, int | float) and not isinstance(value, bool):
            return _bad(verb, value)
        else:
            text = _go_str(value)
        if prec is not None and verb == "s":
            text = text[:prec]
        if verb == "v" and isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            text = sign.strip() + text if sign == "+" else text
        return _pad(text, flags, width)
    if verb == "q":
        if isinstance(value, int) and not isinstance(value, bool):
            text = "'" + chr(value) + "'"
        elif isinstance(value, str | bytes | bytearray):
            text = json.dumps(_go_str(value), ensure_ascii="+" in flags)
        else:
            return _bad(verb, value)
        return _pad(text, flags, width)
    if verb == "t":
        if not isinstance(value, bool):
            return _bad(verb, value)
        return _pad("true" if value else "false", flags, width)
    if verb == "c":
        if not isinstance(value, int) or isinstance(value, bool):
            return _bad(verb, value)
        return _pad(chr(value), flags, width)
    if verb in "dxXob":
        if isinstance(value, str | bytes | bytearray) and verb in "xX":
            raw = value.encode() if isinstance(value, str) else bytes(value)
            text = raw.hex()
            return _pad(text.upper() if verb == "X" else text, flags, width)
        if not isinstance(value, int) or isinstance(value, bool):
            return _bad(verb, value)
        base = {"d": "d", "x": "x", "X": "X", "o": "o", "b": "b"}[verb]
        text = format(abs(value), base)
        if "#" in flags and verb in "xXo":
            text = {"x": "0x", "X": "0X", "o": "0"}[verb] + text
        text = ("-" if value < 0 else sign) + text
        return _pad(text, flags, width)
    if verb in "eEfFgG":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return _bad(verb, value)
        spec = sign + ("#" if "#" in flags else "")
        if prec is not None:
            spec += f".{prec}"
        elif verb in "gG":
            return _pad(
                sign.strip() + _go_float(float(value)) if value >= 0 else _go_float(float(value)),
                flags,
                width,
            )
        text = format(float(value), spec + verb)
        return _pad(text, flags, width)
    return f"%!{verb}({_type_name(value)}={_go_str(value)})"


def go_sprintf(fmt: str, *args: Any) -> str:
    """Format like Go's ``fmt.Sprintf(fmt, args...)`` (see the module docstring). Never raises."""
    if not isinstance(fmt, str):
        raise TypeError(f"format must be a str, got {type(fmt).__name__}")
    out: list[str] = []
    i = 0
    argi = 0
    n = len(fmt)

    def next_arg() -> tuple[bool, Any]:
        nonlocal argi
        if argi < len(args):
            argi += 1
            return True, args[argi - 1]
        return False, None

    while i < n:
        j = fmt.find("%", i)
        if j < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:j])
        if fmt.startswith("%%", j):
            out.append("%")
            i = j + 2
            continue
        m = _SPEC.match(fmt, j)
        assert m is not None
        flags, width_s, prec_s, verb = m.group(1), m.group(2), m.group(3), m.group(4)
        i = m.end()
        if verb is None:
            out.append("%!(NOVERB)")
            break
        width: int | None = None
        prec: int | None = None
        if width_s == "*":
            ok, w = next_arg()
            width = w if ok and isinstance(w, int) and not isinstance(w, bool) else None
            if width is not None and width < 0:
                flags += "-"
                width = -width
        elif width_s:
            width = int(width_s)
        if prec_s == "*":
            ok, p = next_arg()
            prec = p if ok and isinstance(p, int) and not isinstance(p, bool) and p >= 0 else None
        elif prec_s is not None:
            prec = int(prec_s) if prec_s else 0
        ok, value = next_arg()
        if not ok:
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_format_one(verb, flags, width, prec, value))
    if argi < len(args):
        extra = ", ".join(f"{_type_name(a)}={_go_str(a)}" for a in args[argi:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)
