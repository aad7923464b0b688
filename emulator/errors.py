"""The one exception tree of lunar-hil.

Everything the project raises on purpose derives from :class:`EmulatorError`.
Foreign exceptions (pydantic, pyserial, aiomqtt, OSError) are converted at the
boundary with ``raise ... from``, and the new exception carries the context a
user needs: which file, which field, which byte offset.

Link noise is *not* an exception: corrected symbols, uncorrectable codewords,
CRC failures and sync slips are counters (see :mod:`emulator.ccsds.receiver`).
"""

from __future__ import annotations

from typing import ClassVar

#: Process exit codes of every ``lunar-hil`` command (one table, see emulator.cli).
EXIT_OK = 0
EXIT_RUN_FAILURE = 1
EXIT_START_FAILURE = 2
EXIT_SIGINT = 130  # 128 + SIGINT, the shell convention
EXIT_SIGTERM = 143  # 128 + SIGTERM


class EmulatorError(Exception):
    """Root of every error lunar-hil raises on purpose.

    ``exit_code`` is what the CLI exits with when this error ends a command:
    1 for a failure during the run, unless a subclass says otherwise.
    """

    exit_code: ClassVar[int] = EXIT_RUN_FAILURE


class ConfigError(EmulatorError):
    """Bad input at the edges: a profile, a scenario, a CLI option or a URL.

    The CLI prints ``str(exc)`` as one line and exits with code 2: the user can
    fix it before starting again.
    """

    exit_code: ClassVar[int] = EXIT_START_FAILURE


class ProfileError(ConfigError):
    """A profile file failed to load or validate.

    ``errors`` holds one line per problem, each ``FILE: path.to.field: message``.
    """

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


class ScenarioError(ConfigError):
    """A scenario file or a fault specification is invalid."""


class UrlError(ConfigError):
    """An output or input URL could not be understood."""


class UnavailableError(ConfigError):
    """A file, device or peer named on the command line cannot be opened at start.

    The same transport failing later, during the run, is a :class:`LinkError`.
    """


class ProtocolError(EmulatorError):
    """Base of codec errors (after h11: local misuse vs. remote garbage)."""


class LocalProtocolError(ProtocolError):
    """The caller misused the codec API (wrong shape, out-of-range field)."""


class RemoteProtocolError(ProtocolError):
    """Bytes from outside do not form a valid object (header, frame, CLTU)."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        self.offset = offset
        if offset is not None:
            message = f"{message} (at byte offset {offset})"
        super().__init__(message)


class CommandError(EmulatorError):
    """A telecommand was rejected (unknown, malformed, or not allowed now)."""


class LinkError(EmulatorError):
    """A transport failed: serial port, broker, socket or file.

    Raised by a driver's ``open()`` too; the command that opens its drivers at
    start turns that into :class:`UnavailableError` (exit 2).
    """
