"""``lwipy config``: every option with its symbol and value (ESP-IDF's defaults, or what ``--sdkconfig FILE`` and
``-o NAME=VALUE`` make of them), the options accepted without effect, and the chip-only symbols lwipy ignores.
Also the option parsing ``lwipy up``/``ping``/``resolve`` share (:func:`options_from`)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import warnings
from pathlib import Path
from typing import Any, Sequence

from ..config import CHIP_ONLY, Config, SdkconfigWarning, sdkconfig_key
from ..errors import ConfigError

__all__ = ["add_parser", "options_from"]


def options_from(pairs: Sequence[str], base: dict[str, Any], sdkconfig: str | None = None) -> Config:
    """A Config from ``base`` (or an sdkconfig file, ``base`` on top), then ``NAME=VALUE`` pairs (NAME an option or
    its ``CONFIG_`` symbol; each value parsed as Kconfig would for the option's type: ``Config.parse_value``)."""
    options: dict[str, Any] = {}
    if sdkconfig:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SdkconfigWarning)
            result = Config.read_sdkconfig(Path(sdkconfig))  # a path, whatever it looks like
        for w in caught:
            print(f"lwipy: {sdkconfig}: {w.message}", file=sys.stderr, flush=True)
        if result.no_effect:
            print(f"lwipy: {sdkconfig}: no effect in lwipy: {', '.join(sorted(result.no_effect))}", file=sys.stderr,
                  flush=True)
        if result.ignored:
            print(f"lwipy: {sdkconfig}: chip-only, ignored: {', '.join(sorted(result.ignored))}", file=sys.stderr,
                  flush=True)
        options = {name: value for name, (_, value, _) in result.applied.items()}
    options.update(base)
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not eq:
            raise ConfigError(f"--option takes NAME=VALUE, not {pair!r}")
        f = Config.field_for(name.strip())
        options[f.name] = Config.parse_value(f.name, value)
    return Config.from_options(options)


def cmd_config(args: argparse.Namespace) -> int:
    cfg = options_from(args.option or [], {}, args.sdkconfig)
    rows = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        mark = "*" if value != f.default else " "
        note = f"no effect: {f.metadata['no_effect']}" if f.metadata["no_effect"] else f.metadata["doc"]
        rows.append(f"{mark} {f.name:30} {value!s:12} {f.metadata['symbol']:40} {note}")
    example = sdkconfig_key(Config.field_for("arp_table_size"))
    print(f"# {len(rows)} options (name, value, symbol, meaning); * differs from ESP-IDF's default.  In an sdkconfig "
          f"the options whose symbol is not CONFIG_* are CONFIG_LWIPY_<NAME> (e.g. {example})")
    print("\n".join(rows))
    print(f"# {len(CHIP_ONLY)} chip-only symbols recognised and ignored (also CONFIG_LWIP_HOOK_*, CONFIG_LWIP_*_DEBUG):")
    for symbol, note in CHIP_ONLY.items():
        print(f"  {symbol:44} {note}")
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("config", help="list every option: its symbol and value (ESP-IDF's defaults, or with "
                                      "--sdkconfig FILE and -o NAME=VALUE applied)")
    p.add_argument("--sdkconfig", metavar="FILE", help="an ESP-IDF project's sdkconfig")
    p.add_argument("-o", "--option", action="append", metavar="NAME=VALUE", help="an option (repeatable)")
    p.set_defaults(func=cmd_config)
