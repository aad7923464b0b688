"""Load, resolve (``extends``) and validate lander profiles.

Shipped profiles are the ``*.yaml`` files beside this module; the file stem is
the id (``apex-1.0``). Files starting with ``_`` are shared fragments that
profiles extend, not profiles themselves.

``extends``
-----------
A profile may say ``extends: apex-1.0`` (a shipped id) or ``extends: base.yaml``
(a ``.yaml``/``.yml`` file beside the extending file or in the user's profile
directory, :func:`user_profile_dir`; no other path is followed, so a profile
cannot make the loader read ``/etc/shadow``). The parent is resolved first, then
the child is merged over it:

* mappings merge key by key, recursively;
* a fact mapping (one with a ``value`` key, e.g. ``{value: 5, source: ...}``)
  is replaced whole, so a new value never keeps the old value's source;
* lists of blocks merge *by key*: ``bands`` by ``name``, ``virtual_channels``
  by ``vcid``, ``apids`` by ``apid``, ``channels`` by ``name``,
  ``instruments``/``rovers`` by ``id``, ``relays``/``ground_networks``/
  ``stations`` by ``name``. An item with a new key is appended; an item
  ``{<key>: ..., _delete: true}`` removes the inherited one;
* every other list (e.g. a VC's ``apids``) is replaced whole.

Errors
------
Every problem is one line in :class:`emulator.errors.ProfileError`:
``FILE: path.to.field: message``, ``FILE: line N: message`` for YAML syntax,
``FILE: no such file``, ``ID: no such profile (known: ...)``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lunar_hil.emulator.errors import ProfileError
from lunar_hil.emulator.yamlsafe import YAML_SUFFIXES, YamlRefused, load_yaml_file

from .schema import Profile

PROFILE_DIR = Path(__file__).resolve().parent
#: Environment variable naming the user's profile directory (``extends`` looks there).
USER_PROFILE_DIR_ENV = "LUNAR_HIL_PROFILE_DIR"

#: List fields merged item by item on this key (see module docstring).
KEYED_LISTS: dict[str, str] = {
    "bands": "name",
    "virtual_channels": "vcid",
    "apids": "apid",
    "channels": "name",
    "instruments": "id",
    "rovers": "id",
    "relays": "name",
    "ground_networks": "name",
    "stations": "name",
}
DELETE_KEY = "_delete"


def shipped_ids() -> list[str]:
    """Ids of the profiles that ship with lunar-hil, sorted."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml") if not p.name.startswith("_"))


def _shipped_path(profile_id: str) -> Path | None:
    path = PROFILE_DIR / f"{profile_id}.yaml"
    return path if path.is_file() else None


def _unknown_id(profile_id: str) -> str:
    return f"{_shown(profile_id)}: no such profile (known: {', '.join(shipped_ids())})"


def _shown(text: str, limit: int = 80) -> str:
    """A name from a file or the command line, fit for a one-line error.

    A YAML plain scalar may span lines (``extends: apex-1.0`` followed by a
    blank and an indented line reads as ``"apex-1.0\na"``): such a name is shown
    escaped and cut, so the message stays one line (found by hypothesis).
    """
    if text.isprintable() and len(text) <= limit:
        return text
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


def _read_yaml(path: Path) -> dict[str, Any]:
    """Read one YAML mapping within the hostile-input limits (size, depth, aliases).

    Every failure becomes one ProfileError line that names the file and the
    problem but never quotes the file's content.
    """
    try:
        data = load_yaml_file(path)
    except YamlRefused as exc:
        raise ProfileError([str(exc)]) from None
    if not isinstance(data, dict):
        raise ProfileError([f"{path}: top level must be a mapping, got {type(data).__name__}"])
    return data


def merge(base: Any, override: Any, field: str | None = None) -> Any:
    """Merge ``override`` over ``base`` with the ``extends`` rules."""
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        if "value" in override or "value" in base:
            return dict(override)  # a fact is replaced whole, source included
        out = dict(base)
        for key, value in override.items():
            out[key] = merge(base[key], value, str(key)) if key in base else value
        return out
    key = KEYED_LISTS.get(field or "")
    if (
        key is not None
        and isinstance(base, list)
        and isinstance(override, list)
        and all(isinstance(i, Mapping) and key in i for i in [*base, *override])
    ):
        out_list = [dict(i) for i in base]
        for item in override:
            index = next((n for n, old in enumerate(out_list) if old[key] == item[key]), None)
            if item.get(DELETE_KEY):
                if index is not None:
                    del out_list[index]
                continue
            if index is None:
                out_list.append(dict(item))
            else:
                out_list[index] = merge(out_list[index], item)
        return out_list
    return override


def _strip_delete_markers(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _strip_delete_markers(v) for k, v in data.items() if k != DELETE_KEY}
    if isinstance(data, list):
        return [_strip_delete_markers(v) for v in data]
    return data


def resolve_file(path: Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The raw mapping of ``path`` with its ``extends`` chain applied."""
    path = path.resolve() if path.exists() else path
    if path in _chain:
        cycle = " -> ".join(str(p) for p in (*_chain, path))
        raise ProfileError([f"{_chain[-1]}: extends: cycle: {cycle}"])
    data = _read_yaml(path)
    parent_ref = data.pop("extends", None)
    if parent_ref is None:
        return data
    if not isinstance(parent_ref, str) or not parent_ref:
        raise ProfileError([f"{path}: extends: must be a profile id or a file path"])
    parent = (
        _shipped_path(parent_ref) or _fragment_path(parent_ref) or _extends_file(path, parent_ref)
    )
    base = resolve_file(parent, (*_chain, path))
    merged: dict[str, Any] = merge(base, data)
    return merged


def user_profile_dir() -> Path:
    """The user's own profile directory: ``$LUNAR_HIL_PROFILE_DIR``, else
    ``$XDG_CONFIG_HOME/lunar-hil/profiles`` (``~/.config/lunar-hil/profiles``)."""
    configured = os.environ.get(USER_PROFILE_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "lunar-hil" / "profiles"


def _extends_file(child: Path, ref: str) -> Path:
    """The file an ``extends`` path names, confined to two directories.

    Only a ``.yaml``/``.yml`` file beside the extending file or in the user's
    profile directory may be a parent: ``extends: /etc/shadow`` or
    ``extends: ../../secret.yaml`` is refused before anything is read.
    """
    if Path(ref).suffix.lower() not in YAML_SUFFIXES:
        raise ProfileError([f"{child}: extends: {_unknown_id(ref)}"])
    allowed = [child.parent, user_profile_dir()]
    for directory in allowed:
        try:
            base = directory.resolve()
            candidate = (base / ref).resolve()
        except (OSError, RuntimeError, ValueError):  # ValueError: a NUL in the name
            continue
        if candidate.parent == base and candidate.is_file():
            return candidate
    raise ProfileError(
        [
            f"{child}: extends: no YAML file of that name beside this profile or in the "
            f"user profile directory {user_profile_dir()} (paths elsewhere are not followed)"
        ]
    )


def _fragment_path(ref: str) -> Path | None:
    if ref.startswith("_"):
        path = PROFILE_DIR / f"{ref}.yaml"
        return path if path.is_file() else None
    return None


def format_validation_error(label: str, exc: ValidationError) -> list[str]:
    """One ``FILE: path.to.field: message`` line per pydantic error."""
    lines: list[str] = []
    for err in exc.errors(include_url=False):
        loc = [str(part) for part in err["loc"]]
        ctx = err.get("ctx") or {}
        if err["type"] == "field_error":
            loc.append(str(ctx["field"]))
            message = str(ctx["message"])
        else:
            message = err["msg"].removeprefix("Value error, ")
        where = ".".join(loc) if loc else "(top level)"
        lines.append(f"{label}: {where}: {' '.join(message.split())}")
    return lines


def profile_from_mapping(data: Mapping[str, Any], label: str) -> Profile:
    """Validate a resolved mapping; errors become ProfileError lines."""
    try:
        return Profile.model_validate(_strip_delete_markers(dict(data)))
    except ValidationError as exc:
        raise ProfileError(format_validation_error(label, exc)) from None


def load_file(path: str | Path) -> Profile:
    """Load, resolve and validate the profile file at ``path``."""
    path = Path(path)
    return profile_from_mapping(resolve_file(path), str(path))


@cache
def _load_shipped(profile_id: str) -> Profile:
    path = _shipped_path(profile_id)
    if path is None:
        raise ProfileError([_unknown_id(profile_id)])
    profile = load_file(path)
    if profile.id != profile_id:
        raise ProfileError([f"{path}: id: {profile.id!r} must match the file name {profile_id!r}"])
    return profile


def load_profile(id_or_path: str) -> Profile:
    """A shipped profile by id, or a profile file by path.

    A string that names a shipped id wins; otherwise it is taken as a path if
    it looks like one (has a ``/`` or a ``.yaml``/``.yml`` suffix) or exists.
    """
    if _shipped_path(id_or_path) is not None and not id_or_path.startswith("_"):
        return _load_shipped(id_or_path)
    path = Path(id_or_path).expanduser()
    if "/" in id_or_path or path.suffix in (".yaml", ".yml") or path.exists():
        return load_file(path)
    raise ProfileError([_unknown_id(id_or_path)])


def list_profiles() -> list[Profile]:
    """All shipped profiles, validated, in id order."""
    return [_load_shipped(pid) for pid in shipped_ids()]


def validate_file(path: str | Path) -> list[str]:
    """Error lines for the profile file at ``path`` (empty when it is valid)."""
    try:
        load_file(path)
    except ProfileError as exc:
        return exc.errors
    return []
