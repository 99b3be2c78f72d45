"""The one family of helpers that turns settings text into typed values.

Every setting ProvenFix reads at start-up (the pipeline's, jobs.config; the App's,
bot.settings) goes through a `SettingsReader`: the environment, with the command
line's flags on top. A reader never stops at the first problem: each bad value
is recorded under the name the user actually set (`--model-samples` when the flag
gave it, `PROVENFIX_MODEL_SAMPLES` when the variable did) and the default stands
in, so that `raise_problems()` reports every one of them at once.

Pure: no file, no network; the caller hands in the mapping (usually os.environ).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from provenfix.jobs.errors import ConfigError

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class Flag:
    """A command-line option (or Action input) that stands for a variable."""

    label: str  # how the user wrote it, e.g. "--model-samples" or "input `model`"
    value: str


@dataclass(frozen=True)
class Setting:
    text: str  # stripped, never empty
    label: str  # the variable's name or the flag's label

    @property
    def is_flag(self) -> bool:
        return self.label.startswith(("-", "input "))

    def shown(self, value: str | None = None) -> str:
        """`NAME='text'` for a variable, `--flag 'text'` for a flag; `value` unquoted instead."""
        return f"{self.label}{' ' if self.is_flag else '='}{value or repr(self.text)}"


class SettingsReader:
    """Typed reads of settings, collecting every problem instead of raising the first."""

    def __init__(self, env: Mapping[str, str], flags: Mapping[str, Flag] | None = None) -> None:
        self._env = env
        self._flags = dict(flags or {})
        self._problems: list[str] = []

    @property
    def problems(self) -> tuple[str, ...]:
        return tuple(self._problems)

    def get(self, name: str) -> Setting | None:
        """The flag for `name` if one was given, else the variable; None when unset or blank."""
        flag = self._flags.get(name)
        if flag is not None and flag.value.strip():
            return Setting(flag.value.strip(), flag.label)
        text = self._env.get(name, "").strip()
        return Setting(text, name) if text else None

    def is_set(self, name: str) -> bool:
        """Whether the variable (or its flag) is there at all, even empty."""
        return name in self._flags or name in self._env

    def raw(self, name: str) -> str | None:
        """The untrimmed variable (secrets, PEM text); flags never carry these."""
        value = self._env.get(name)
        return value if value is not None and value.strip() else None

    def problem(self, message: str) -> None:
        self._problems.append(message)

    def text(self, name: str, default: str) -> str:
        setting = self.get(name)
        return setting.text if setting is not None else default

    def optional(self, name: str) -> str | None:
        setting = self.get(name)
        return setting.text if setting is not None else None

    def path(self, name: str) -> Path | None:
        setting = self.get(name)
        return Path(setting.text).expanduser() if setting is not None else None

    def integer(
        self, name: str, default: int, *, low: int, high: int | None = None, hint: str = ""
    ) -> int:
        setting = self.get(name)
        if setting is None:
            return default
        try:
            value = int(setting.text)
        except ValueError:
            self._bad(setting, "is not a whole number", hint)
            return default
        if value < low or (high is not None and value > high):
            self._out_of_range(setting, value, _bounds(low, high), hint)
            return default
        return value

    def decimal(
        self, name: str, default: float, *, low: float, high: float, hint: str = ""
    ) -> float:
        setting = self.get(name)
        if setting is None:
            return default
        try:
            value = float(setting.text)
        except ValueError:
            self._bad(setting, "is not a number", hint)
            return default
        if not low <= value <= high:  # NaN fails both
            self._out_of_range(setting, value, f"{low:g} to {high:g}", hint)
            return default
        return value

    def boolean(self, name: str, default: bool) -> bool:
        setting = self.get(name)
        if setting is None:
            return default
        lowered = setting.text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        self._bad(setting, "is not a boolean", "use true or false")
        return default

    def choice(self, name: str, default: str, choices: Sequence[str], *, hint: str = "") -> str:
        setting = self.get(name)
        if setting is None:
            return default
        lowered = setting.text.lower()
        if lowered not in choices:
            listed = " or ".join(
                [", ".join(choices[:-1]), choices[-1]] if choices[:-1] else choices
            )
            self._bad(setting, f"is not valid; use {listed}", hint)
            return default
        return lowered

    def raise_problems(self, error: type[ConfigError] = ConfigError) -> None:
        """Raise `error` listing every problem recorded, if there is any."""
        if not self._problems:
            return
        if len(self._problems) == 1:
            raise error(self._problems[0])
        lines = "\n".join(f"  - {problem}" for problem in self._problems)
        raise error(f"{len(self._problems)} settings need fixing:\n{lines}")

    def _out_of_range(self, setting: Setting, value: float, bounds: str, hint: str) -> None:
        shown = setting.shown(str(value) if isinstance(value, int) else f"{value:g}")
        self.problem(f"{shown} is out of range: use {bounds}" + (f" ({hint})" if hint else ""))

    def _bad(self, setting: Setting, what: str, hint: str) -> None:
        self.problem(f"{setting.shown()} {what}" + (f" ({hint})" if hint else ""))


def _bounds(low: int, high: int | None) -> str:
    return f"at least {low}" if high is None else f"{low} to {high}"
