"""``emulate`` on a busy port, an impossible port or an unknown host says so in one line
and exits 2: no traceback (issue 17)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from invoicing_bridge import ConfigurationError
from invoicing_bridge.cli import main
from invoicing_bridge.emulation.server import EmulatorServer


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _emulate(*args: str) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(main, ["emulate", *args])
    return result.exit_code, result.output, result.exception


@pytest.mark.parametrize("name", ["daftra", "perfex"])
def test_busy_port_is_one_line_naming_the_port(name: str, busy_port: int) -> None:
    code, output, exception = _emulate(name, "--port", str(busy_port))
    assert code == 2 and isinstance(exception, SystemExit)
    assert output.strip() == (
        f"error: option 'port': cannot listen on 127.0.0.1:{busy_port}: the port is in use"
        " (another emulator?); pick another, or 0 for a free one"
    )


def test_port_out_of_range_is_a_usage_error() -> None:
    code, output, exception = _emulate("perfex", "--port", "99999")
    assert code == 2 and isinstance(exception, SystemExit)
    assert "Invalid value for '--port': 99999 is not in the range 0<=x<=65535" in output
    assert "Traceback" not in output


def test_unknown_host_is_one_line() -> None:
    code, output, _ = _emulate("daftra", "--host", "999.1.1.1")
    assert code == 2
    assert output.strip() == "error: option 'host': cannot listen on '999.1.1.1': no such address"


def test_server_refuses_a_port_out_of_range_with_a_configuration_error() -> None:
    def app(environ: object, start_response: object) -> list[bytes]:
        return []

    with pytest.raises(ConfigurationError, match=r"port 99999 is out of range \(0-65535\)"):
        EmulatorServer(app, port=99999)
