"""One root error for cathode-lake; subclasses also inherit the builtin a caller expects."""


class CathodeLakeError(Exception):
    """Root of every error cathode-lake raises on purpose; the CLI prints it as one line."""


class InputError(CathodeLakeError, ValueError):
    """A file or value does not match what cathode-lake expects.

    The message names the file, row and column (or, for a command's argument, the argument) where known, what was
    expected and what was found.
    """

    def __init__(self, message: str, *, file: str | None = None, row: int | None = None,
                 column: str | None = None, argument: str | None = None, expected: str | None = None,
                 found: object = None):
        where = ", ".join(p for p in (file, f"row {row}" if row is not None else None,
                                      f"column '{column}'" if column else None, argument) if p)
        text = f"{where}: {message}" if where else message
        if expected is not None:
            text += f" Expected {expected}; found {found!r}."
        super().__init__(text)
        self.file, self.row, self.column, self.argument = file, row, column, argument
        self.expected, self.found = expected, found


class UsageError(InputError):
    """A command or function was given arguments it cannot use (not a file's content); the CLI exits 2.
    Raise it with ``argument=`` (`parameter 'c_rate'`, `--level`)."""


class UnknownFormatError(InputError):
    """No registered reader recognises the file."""


class LakeError(CathodeLakeError, RuntimeError):
    """The lake folder or catalog is missing, locked too long, or inconsistent."""


class QueryError(CathodeLakeError, ValueError):
    """A SQL query the lake could not run (syntax, unknown column, …)."""
