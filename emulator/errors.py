"""The one exception tree of lunar-hil.

Everything the project raises on purpose derives from :class:`EmulatorError`.
Foreign exceptions (pydantic, pyserial, aiomqtt, OSError) are converted at the
boundary with ``raise ... from``, and the new exception carries the context a
user needs: which file, which field, which byte offset.

Link noise is *not* an exception: corrected symbols, uncorrectable codewords,
CRC failures and sync slips are counters (see :mod:`emulator.ccsds.receiver`).
"""

from __future__ import annotations


class EmulatorError(Exception):
    """Root of every error lunar-hil raises on purpose."""


class ConfigError(EmulatorError):
    """Bad input at the edges: a profile, a scenario, a CLI option or a URL.

    The CLI prints ``str(exc)`` as one line and exits with code 2.
    """


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
    """A transport failed: serial port, broker, socket or file."""
