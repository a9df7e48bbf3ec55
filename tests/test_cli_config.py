"""``lwipy config`` lists every option with its symbol and value; ``-o NAME=VALUE`` takes Kconfig's bool spellings;
``--sdkconfig FILE`` is read strictly by ``config`` and ``up`` (a bad line stops ``up`` before any device is touched)."""

import dataclasses

import pytest
from test_cli import lwipy

from lwipy import Config


def rows(stdout):
    """name -> (value, symbol) of each option row of ``lwipy config``."""
    out = {}
    for line in stdout.splitlines():
        if line.startswith("#") or line.startswith("  CONFIG_"):
            continue
        parts = line[2:].split()
        out[parts[0]] = (parts[1], parts[2])
    return out


def test_config_shows_every_option_its_symbol_and_value_and_the_chip_only_symbols():
    r = lwipy("config")
    assert r.returncode == 0, r.stderr
    shown = rows(r.stdout)
    fields = dataclasses.fields(Config)
    assert set(shown) == {f.name for f in fields}
    for f in fields:
        assert shown[f.name] == (str(f.default), f.metadata["symbol"]), f.name
    assert "CONFIG_LWIP_IRAM_OPTIMIZATION" in r.stdout and "no effect: lwipy is always deadline-driven" in r.stdout


@pytest.mark.parametrize("text, value", [("y", "True"), ("1", "True"), ("true", "True"), ("n", "False"),
                                         ("0", "False"), ("false", "False")])
def test_option_values_for_bools_are_kconfigs(text, value):
    r = lwipy("config", "-o", f"ip_forward={text}", "-o", f"CONFIG_LWIP_SO_REUSE={text}")
    assert r.returncode == 0, r.stderr
    shown = rows(r.stdout)
    assert shown["ip_forward"][0] == value and shown["so_reuse"][0] == value


def test_config_reads_an_sdkconfig_and_marks_what_differs(tmp_path):
    sdk = tmp_path / "sdkconfig"
    sdk.write_text("CONFIG_IDF_TARGET=\"esp32\"\nCONFIG_LWIP_MAX_SOCKETS=12\nCONFIG_LWIP_TCP_SACK_OUT=y\n"
                   "CONFIG_LWIP_IRAM_OPTIMIZATION=y\n")
    r = lwipy("config", "--sdkconfig", str(sdk), "-o", "max_sockets=13")
    assert r.returncode == 0, r.stderr
    shown = rows(r.stdout)
    assert shown["max_sockets"][0] == "13" and shown["tcp_sack_out"][0] == "True"  # -o after the file
    assert "* max_sockets" in r.stdout and "* tcp_sack_out" in r.stdout and "* ip_forward" not in r.stdout
    assert "chip-only, ignored: CONFIG_LWIP_IRAM_OPTIMIZATION" in r.stderr


@pytest.mark.parametrize("line, words", [("CONFIG_LWIP_IP_FORWARD=1", ["CONFIG_LWIP_IP_FORWARD", "line 2", "y or n"]),
                                         ("CONFIG_LWIP_MAX_SOCKETS=", ["CONFIG_LWIP_MAX_SOCKETS", "line 2"])])
def test_up_with_a_bad_sdkconfig_is_a_clear_error_before_any_tap(tmp_path, line, words):
    sdk = tmp_path / "sdkconfig"
    sdk.write_text(f"# made by hand\n{line}\n")
    r = lwipy("up", "--tap", "nonexistent0", "--ip", "10.9.9.9/24", "--sdkconfig", str(sdk))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert all(w in r.stderr for w in words), r.stderr


def test_unknown_symbols_in_the_sdkconfig_are_listed(tmp_path):
    sdk = tmp_path / "sdkconfig"
    sdk.write_text("CONFIG_LWIP_NOT_A_THING=y\n")
    r = lwipy("config", "--sdkconfig", str(sdk))
    assert r.returncode == 0 and "CONFIG_LWIP_NOT_A_THING (line 1)" in r.stderr


def test_bad_option_value_names_the_option():
    r = lwipy("config", "-o", "ip_forward=maybe")
    assert r.returncode == 2 and "ip_forward" in r.stderr and "y or n" in r.stderr and "Traceback" not in r.stderr



def test_sdkconfig_is_always_a_path_on_the_command_line(tmp_path):
    """--sdkconfig names a file even when its path looks like sdkconfig text (an '=' in a folder name):
    Config.read_sdkconfig tells a path from text by its look, so the CLI hands it a Path."""
    folder = tmp_path / "build=release"
    folder.mkdir()
    (folder / "sdkconfig").write_text("CONFIG_LWIP_MAX_SOCKETS=12\n")
    r = lwipy("config", "--sdkconfig", str(folder / "sdkconfig"))
    assert r.returncode == 0, r.stderr
    assert rows(r.stdout)["max_sockets"][0] == "12"
