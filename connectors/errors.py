"""The one error type a connector raises for bad input in a source."""


class SourceError(Exception):
    """Bad input in a source: names the file, the line (1-based, physical) and the rule."""

    def __init__(self, file: str, line: int | None, rule: str, message: str) -> None:
        self.file = file
        self.line = line
        self.rule = rule
        self.message = message
        where = file if line is None else f"{file}:{line}"
        super().__init__(f"{where}: {rule}: {message}")

    def __reduce__(self) -> tuple[type, tuple[str, int | None, str, str]]:
        # Keeps the error picklable (process pools, Prefect results) despite the custom __init__.
        return (type(self), (self.file, self.line, self.rule, self.message))
