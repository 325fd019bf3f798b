"""Problems found in catalog files, named by file and entry, and the collector of them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["CatalogError", "Problem", "ProblemCollector"]


@dataclass(frozen=True)
class Problem:
    file: str
    entry: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.entry}: {self.message}"


class CatalogError(Exception):
    """The catalog files are not valid; `problems` lists every one found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ProblemCollector:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, file: str, entry: str, message: str) -> None:
        self.problems.append(Problem(file, entry, message))

    def text(self, file: str, entry: str, raw: Mapping[str, Any], key: str, required: bool = True) -> str:
        value = raw.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.problem(file, entry, f"'{key}' is required")
            return ""
        return str(value)

    def flag(self, file: str, entry: str, raw: Mapping[str, Any], key: str) -> bool:
        """A YAML true or false (absent: false). Text such as "no" or "false" is refused, not
        read as true: `operator: "no"` must not make an agency the platform operator."""
        value = raw.get(key, False)
        if isinstance(value, bool):
            return value
        self.problem(file, entry, f"'{key}' is {value!r}; write true or false, without quotes")
        return False

    def choice(self, file: str, entry: str, raw: Mapping[str, Any], key: str, enum: type, default: Any = None) -> Any:
        value = raw.get(key, default)
        if value is None:
            self.problem(file, entry, f"'{key}' is required; one of {', '.join(e.value for e in enum)}")
            return None
        try:
            return enum(str(value))
        except ValueError:
            self.problem(file, entry, f"'{key}' is {value!r}; expected one of {', '.join(e.value for e in enum)}")
            return None
