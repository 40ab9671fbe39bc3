import io
import json
import logging

import pytest

from labkit.logs import configure_logging


@pytest.fixture
def restore_root_logger():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_extra_fields(restore_root_logger) -> None:
    stream = io.StringIO()
    configure_logging("json", "info", stream)
    logging.getLogger("labplatform.test").info("session started", extra={"session": "s-1", "n": 3})
    logging.getLogger("labplatform.test").debug("hidden below the level")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["msg"] == "session started"
    assert record["level"] == "info"
    assert record["logger"] == "labplatform.test"
    assert record["session"] == "s-1"
    assert record["n"] == 3
    assert record["ts"].endswith("+00:00")


def test_key_value_lines_quote_what_needs_it(restore_root_logger) -> None:
    stream = io.StringIO()
    configure_logging("kv", "info", stream)
    logging.getLogger("x").warning("port busy", extra={"port": 8000, "reason": 'in "use"'})
    line = stream.getvalue().strip()
    assert 'msg="port busy"' in line
    assert "port=8000" in line
    assert r'reason="in \"use\""' in line
    assert "level=warning" in line


def test_exceptions_are_kept_on_one_line(restore_root_logger) -> None:
    stream = io.StringIO()
    configure_logging("json", "info", stream)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("x").exception("failed")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert "ValueError: boom" in json.loads(lines[0])["exc"]
