"""Generated Python source: what the Avro compiler and the trusted builders share.

Both turn a declaration (an Avro schema, a pydantic model) into one
straight-line function, compiled once: the source lines, fresh local names,
and the constants the generated code refers to.
"""

from __future__ import annotations

from typing import Any


class CodeWriter:
    """Source lines, fresh local names and named constants of one generated function."""

    def __init__(self, constants: dict[str, Any] | None = None) -> None:
        self.lines: list[str] = []
        self.constants: dict[str, Any] = dict(constants or {})
        self._counter = 0

    def fresh(self, prefix: str = "v") -> str:
        self._counter += 1
        return f"{prefix}{self._counter}"

    def constant(self, value: Any) -> str:
        name = self.fresh("_C")
        self.constants[name] = value
        return name

    def emit(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)

    def function(self, name: str, source_name: str, runtime: dict[str, Any]) -> Any:
        """Compile the lines and return the function ``name`` (its source kept beside it)."""
        source = "\n".join(self.lines) + "\n"
        namespace: dict[str, Any] = {**runtime, **self.constants}
        exec(compile(source, source_name, "exec"), namespace)
        function = namespace[name]
        function.__generated_source__ = source
        return function
