"""PII redaction for storage and telemetry (issue 7, docs/guardrails.md).

What is redacted, when an agent's redaction is on (``AgentSpec.guardrails.pii``, else
the platform default ``settings.guardrails.pii_enabled``): the Execution's input,
output and error as stored in the graph, every string in its spans (tool arguments,
results, status messages), run events published on Redis Streams, sandbox recordings,
and log records (a :class:`PIIRedactingFilter` applied to every record the process
creates). The model itself still sees the real input: redaction is for what is kept.

Detectors are regular expressions; credit-card candidates must pass the Luhn checksum
(ISO/IEC 7812-1) and IBAN candidates the ISO 13616 mod-97 check, so order numbers and
dates are not redacted. Each match becomes ``[REDACTED:<name>]``. Built-ins, applied in
this order (earlier ones win, e.g. an SSN is not also read as a phone number):
``email``, ``credit_card``, ``iban``, ``us_ssn``, ``ipv4``, ``phone``; custom named
patterns run after them.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from agentgraph._spec_guardrails import BUILTIN_PII, PIIConfig

_Check = Callable[[str], bool]


def luhn_ok(number: str) -> bool:
    """True when the digits of ``number`` pass the Luhn checksum (ISO/IEC 7812-1); non-digits are ignored."""
    digits = [int(c) for c in number if c.isdigit()]
    if len(digits) < 2:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(text: str) -> bool:
    """True when ``text`` (spaces ignored) passes the IBAN mod-97 check of ISO 13616."""
    s = text.replace(" ", "").upper()
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    try:
        return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1
    except ValueError:
        return False


_DATE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}")


def _phone(m: str) -> bool:
    # 7..15 digits (ITU-T E.164 maximum), and not a date such as 2024-01-15.
    return 7 <= sum(c.isdigit() for c in m) <= 15 and not _DATE.fullmatch(m.strip())


def _card(m: str) -> bool:
    return 13 <= sum(c.isdigit() for c in m) <= 19 and luhn_ok(m)


_DIGIT = re.compile(r"\d")
#: Fewest digits a match of each built-in has (a cheap pre-check before scanning a string).
_MIN_DIGITS = {"credit_card": 13, "iban": 13, "us_ssn": 9, "ipv4": 4, "phone": 7}
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
#: name -> (regex, extra check on the matched text or None). Order matters (module docstring).
BUILTIN_PATTERNS: dict[str, tuple[re.Pattern[str], _Check | None]] = {
    # The lookbehind stops the engine from retrying inside a long word (quadratic on plain text).
    "email": (re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
              None),
    "credit_card": (re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])"), _card),
    "iban": (re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b"), iban_ok),
    "us_ssn": (re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])"), None),
    "ipv4": (re.compile(rf"(?<![\d.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\d.])"), None),
    # +country code optional; digit count and date shapes checked by _phone.
    "phone": (re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,4}(?!\w)"),
              _phone),
}


class Redactor:
    """Replaces PII in text with ``[REDACTED:<name>]`` (see module docstring).

    Args:
        builtins: names of built-in detectors to use (:data:`BUILTIN_PATTERNS`).
        patterns: extra ``(name, regex)`` pairs, applied after the built-ins.

    Raises:
        ValueError: an unknown built-in name or a regex that does not compile.
    """

    def __init__(self, builtins: Iterable[str] = BUILTIN_PII, patterns: Iterable[tuple[str, str]] = ()) -> None:
        chosen = set(builtins)
        unknown = chosen - set(BUILTIN_PATTERNS)
        if unknown:
            raise ValueError(f"unknown PII detectors {sorted(unknown)}; known: {', '.join(BUILTIN_PATTERNS)}")
        self.rules: list[tuple[str, re.Pattern[str], _Check | None, int]] = [
            (name, rx, check, _MIN_DIGITS.get(name, 0)) for name, (rx, check) in BUILTIN_PATTERNS.items()
            if name in chosen]
        self.rules += [(name, re.compile(rx), None, 0) for name, rx in patterns]

    def redact(self, text: str) -> str:
        """``text`` with every detected item replaced; non-strings are returned as they are."""
        if not isinstance(text, str) or not text:
            return text
        digits = len(_DIGIT.findall(text))
        for name, rx, check, min_digits in self.rules:
            if digits < min_digits or (name == "email" and "@" not in text):
                continue  # cannot match: skip the scan (most span attributes are short ids and names)
            token = f"[REDACTED:{name}]"
            if check is None:
                text = rx.sub(token, text)
            else:
                text = rx.sub(lambda m, c=check, t=token: t if c(m.group(0)) else m.group(0), text)
        return text

    def redact_obj(self, obj: Any) -> Any:
        """A copy of ``obj`` (dicts, lists, tuples of JSON values) with every string redacted (keys too)."""
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, dict):
            return {self.redact(k) if isinstance(k, str) else k: self.redact_obj(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return type(obj)(self.redact_obj(v) for v in obj)
        return obj

    @classmethod
    def for_agent(cls, pii: PIIConfig | None, *, default_enabled: bool = False,
                  platform_patterns: dict[str, str] | None = None) -> "Redactor | None":
        """The redactor an agent's runs use, or None when redaction is off for it.

        Args:
            pii: the spec's ``guardrails.pii`` (None: platform defaults only).
            default_enabled: the platform default (``settings.guardrails.pii_enabled``).
            platform_patterns: platform-wide ``name -> regex`` (``settings.guardrails.pii_patterns``).
        """
        enabled = default_enabled if pii is None or pii.enabled is None else pii.enabled
        if not enabled:
            return None
        builtins = BUILTIN_PII if pii is None or pii.builtins is None else pii.builtins
        extra = list((platform_patterns or {}).items()) + [(p.name, p.regex) for p in (pii.patterns if pii else [])]
        return cls(builtins, extra)


# --- log records -------------------------------------------------------------------------------
#: The redactor of the run executing in this task (set by :func:`redaction_scope`).
_current: contextvars.ContextVar[Redactor | None] = contextvars.ContextVar("agentgraph_pii", default=None)


@contextlib.contextmanager
def redaction_scope(redactor: Redactor | None) -> Iterator[None]:
    """Log records created inside use ``redactor`` (a run's own patterns) instead of the platform default."""
    token = _current.set(redactor)
    try:
        yield
    finally:
        _current.reset(token)


class PIIRedactingFilter(logging.Filter):
    """Redacts a log record's message (arguments merged in) and exception text in place; never drops it.

    Uses the redactor of the current run (:func:`redaction_scope`) when there is one, else ``default``.
    """

    def __init__(self, default: Redactor | None = None) -> None:
        super().__init__()
        self.default = default

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: D102 - logging.Filter contract
        redactor = _current.get() or self.default
        if redactor is None or getattr(record, "_pii_done", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return True
        record.msg, record.args = redactor.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redactor.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None  # formatters would print the raw traceback again
        elif record.exc_text:
            record.exc_text = redactor.redact(record.exc_text)
        record._pii_done = True
        return True


_installed: PIIRedactingFilter | None = None


def install_log_redaction(default: Redactor | None) -> PIIRedactingFilter:
    """Apply :class:`PIIRedactingFilter` to every log record this process creates (idempotent).

    Why the record factory and not a handler filter: a filter on a handler misses handlers
    added later (pytest's capture, uvicorn's), and a logger filter misses child loggers;
    wrapping ``logging.setLogRecordFactory`` sees every record once, before any handler.
    A second call replaces the platform default redactor.
    """
    global _installed
    if _installed is not None:
        _installed.default = default
        return _installed
    flt = PIIRedactingFilter(default)
    base = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        flt.filter(record)
        return record

    logging.setLogRecordFactory(factory)
    _installed = flt
    return flt




def current_redactor() -> Redactor | None:
    """The redactor of the run executing in this task (:func:`redaction_scope`), or None."""
    return _current.get()


__all__ = ["BUILTIN_PATTERNS", "PIIRedactingFilter", "Redactor", "current_redactor", "iban_ok", "install_log_redaction",
           "luhn_ok", "redaction_scope"]
