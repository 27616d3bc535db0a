"""The journal handler's fields (through systemd-python's real JournalHandler) and the rate limiter."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_agent.journal import FIELDS, JournalFields, RateLimit, journal_handler, journal_wanted


class RecordingSender:
    """Stands in for ``systemd.journal.send(MESSAGE, **fields)``: keeps what journald would get."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def __call__(self, MESSAGE: str, **fields: Any) -> None:  # noqa: N803 - journal.send's own name
        self.entries.append({"MESSAGE": MESSAGE, **fields})

    def journal_fields(self, index: int = -1) -> dict[str, str]:
        """What journald keeps: valid field names only (upper case, digits, _), values as text."""
        return {
            key: str(value) for key, value in self.entries[index].items() if re.fullmatch(r"[A-Z0-9][A-Z0-9_]*", key)
        }


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture
def log(sender: RecordingSender) -> Iterator[logging.Logger]:
    """``edge_agent.test.audio`` logging only to a journal handler with a recording sender."""
    logger = logging.getLogger("edge_agent.test.audio")
    handler = journal_handler(sender, phase=lambda: "listening")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger
    logger.removeHandler(handler)
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


def test_every_entry_has_identifier_phase_event_and_logger(log: logging.Logger, sender: RecordingSender) -> None:
    log.info("capture device %s opened", "hw:1")
    fields = sender.journal_fields()
    assert fields["MESSAGE"] == "[listening] edge_agent.test.audio: capture device hw:1 opened"
    assert fields["SYSLOG_IDENTIFIER"] == "edge-agent"
    assert fields["PHASE"] == "listening"
    assert fields["EDGE_AGENT_EVENT"] == "audio"
    assert fields["LOGGER"] == "edge_agent.test.audio"
    assert fields["PRIORITY"] == "6"


def test_event_extra_names_the_event(log: logging.Logger, sender: RecordingSender) -> None:
    log.warning("xrun on %s", "hw:1", extra={"event": "xrun"})
    assert sender.journal_fields()["EDGE_AGENT_EVENT"] == "xrun"


@pytest.mark.parametrize(
    ("level", "priority"),
    [
        (logging.DEBUG, "7"),
        (logging.INFO, "6"),
        (logging.WARNING, "4"),
        (logging.ERROR, "3"),
        (logging.CRITICAL, "2"),
    ],
)
def test_priority_follows_the_level(level: int, priority: str, log: logging.Logger, sender: RecordingSender) -> None:
    log.log(level, "something")
    assert sender.journal_fields()["PRIORITY"] == priority


def test_project_extras_become_fields(log: logging.Logger, sender: RecordingSender) -> None:
    extra = {"TURN": 3, "LATENCY_MS": 412, "TOKENS": 1830, "TOOL": "set_output", "DEVICE": "hw:1", "CLOSE_CODE": 1011}
    assert set(extra) == set(FIELDS)
    log.info("turn complete", extra=extra)
    fields = sender.journal_fields()
    assert {key: fields[key] for key in FIELDS} == {key: str(value) for key, value in extra.items()}


def test_none_valued_fields_are_left_out(log: logging.Logger, sender: RecordingSender) -> None:
    log.info("turn complete", extra={"TURN": 3, "TOOL": None})
    fields = sender.journal_fields()
    assert fields["TURN"] == "3"
    assert "TOOL" not in fields


def test_lower_case_extras_do_not_become_fields(log: logging.Logger, sender: RecordingSender) -> None:
    log.info("hello", extra={"turn": 3})
    assert "turn" in sender.entries[-1]  # JournalHandler passes every record attribute …
    assert "turn" not in sender.journal_fields()  # … and journald keeps only valid field names
    assert "TURN" not in sender.journal_fields()


def test_an_extra_named_like_a_handler_argument_does_not_break_logging(
    log: logging.Logger, sender: RecordingSender, capsys: pytest.CaptureFixture[str]
) -> None:
    log.info("hello", extra={"PRIORITY": "0", "MESSAGE": "spoofed"})
    fields = sender.journal_fields()
    assert fields["PRIORITY"] == "6"
    assert fields["MESSAGE"].endswith("hello")
    assert fields["EXTRA_PRIORITY"] == "0"
    assert fields["EXTRA_MESSAGE"] == "spoofed"
    assert "Logging error" not in capsys.readouterr().err


def test_message_carries_no_timestamp(log: logging.Logger, sender: RecordingSender) -> None:
    log.warning("xrun %d", 7)
    message = sender.journal_fields()["MESSAGE"]
    assert message == "[listening] edge_agent.test.audio: xrun 7"
    assert not re.search(r"\d{1,2}:\d{2}", message)
    assert not re.search(r"\d{4}-\d{2}-\d{2}", message)


def test_exceptions_go_into_message_and_exception_text(log: logging.Logger, sender: RecordingSender) -> None:
    try:
        raise RuntimeError("card gone")
    except RuntimeError:
        log.exception("playback failed")
    fields = sender.journal_fields()
    assert fields["MESSAGE"].startswith("[listening] edge_agent.test.audio: playback failed\nTraceback")
    assert "RuntimeError: card gone" in fields["EXCEPTION_TEXT"]
    assert fields["PRIORITY"] == "3"


def test_a_failing_phase_source_does_not_lose_the_line(sender: RecordingSender) -> None:
    def phase() -> str:
        raise RuntimeError("no phase yet")

    record = logging.LogRecord("edge_agent.daemon", logging.INFO, __file__, 1, "hello", None, None)
    assert JournalFields(phase).filter(record)
    assert record.__dict__["PHASE"] == "unknown"
    assert record.__dict__["EDGE_AGENT_EVENT"] == "daemon"


def test_default_phase_is_unknown(sender: RecordingSender) -> None:
    handler = journal_handler(sender)
    handler.handle(logging.LogRecord("edge_agent", logging.INFO, __file__, 1, "hi", None, None))
    assert sender.journal_fields()["PHASE"] == "unknown"
    assert sender.journal_fields()["EDGE_AGENT_EVENT"] == "edge_agent"


def test_journal_wanted(tmp_path: Path) -> None:
    with open(tmp_path / "out", "w") as out:
        st = os.fstat(out.fileno())
        mine = f"{st.st_dev}:{st.st_ino}"
        assert journal_wanted({"JOURNAL_STREAM": mine}, fds=[out.fileno()])
        assert not journal_wanted({"JOURNAL_STREAM": "1:2", "INVOCATION_ID": "abc"}, fds=[out.fileno()])
    assert journal_wanted({"INVOCATION_ID": "abc"})
    assert not journal_wanted({})


# --- RateLimit -------------------------------------------------------------------------------


def make_record(
    msg: str, *args: object, name: str = "edge_agent.audio", level: int = logging.WARNING
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args or None, None)


def run_through(limit: RateLimit, records: list[logging.LogRecord]) -> list[str]:
    """The messages that pass ``limit``, formatted."""
    return [r.getMessage() for r in records if limit.filter(r)]


def test_same_template_collapses_and_reports_the_count_after_the_window() -> None:
    clock = Clock()
    limit = RateLimit(burst=1, window_s=10.0, clock=clock)
    passed = run_through(limit, [make_record("xrun %d", n) for n in range(1, 6)])
    assert passed == ["xrun 1"]
    clock.now += 9.9
    assert run_through(limit, [make_record("xrun %d", 6)]) == []
    clock.now += 0.1
    assert run_through(limit, [make_record("xrun %d", 7), make_record("xrun %d", 8)]) == [
        "xrun 7 (5 similar suppressed)"
    ]
    clock.now += 10
    assert run_through(limit, [make_record("xrun %d", 9)]) == ["xrun 9 (1 similar suppressed)"]
    clock.now += 10
    assert run_through(limit, [make_record("xrun %d", 10)]) == ["xrun 10"]


def test_burst_lets_n_through_per_window() -> None:
    clock = Clock()
    limit = RateLimit(burst=2, window_s=5.0, clock=clock)
    assert run_through(limit, [make_record("late %s", c) for c in "abcd"]) == ["late a", "late b"]
    clock.now += 5
    assert run_through(limit, [make_record("late %s", c) for c in "ef"]) == ["late e (2 similar suppressed)", "late f"]


def test_keys_are_logger_and_template() -> None:
    limit = RateLimit(clock=Clock())
    records = [
        make_record("xrun %d", 1),
        make_record("xrun %d", 2, name="edge_agent.other"),
        make_record("underrun %d", 1),
        make_record("xrun %d", 3),
    ]
    assert run_through(limit, records) == ["xrun 1", "xrun 2", "underrun 1"]


def test_records_below_min_level_always_pass() -> None:
    limit = RateLimit(clock=Clock())
    records = [make_record("User: %s", t, level=logging.INFO) for t in ("a", "b", "c")]
    assert run_through(limit, records) == ["User: a", "User: b", "User: c"]


def test_one_instance_on_two_handlers_decides_once_per_record() -> None:
    limit = RateLimit(clock=Clock())
    first, second = make_record("xrun %d", 1), make_record("xrun %d", 2)
    assert limit.filter(first) and limit.filter(first)
    assert not limit.filter(second) and not limit.filter(second)


def test_key_memory_is_bounded_oldest_forgotten_first() -> None:
    clock = Clock()
    limit = RateLimit(window_s=100, clock=clock, max_keys=3)
    assert run_through(limit, [make_record("a"), make_record("a")]) == ["a"]
    clock.now += 1
    assert run_through(limit, [make_record("b"), make_record("c"), make_record("d")]) == ["b", "c", "d"]
    # "a" (the oldest key) was forgotten to make room for "d", so it passes again within its window
    assert run_through(limit, [make_record("a"), make_record("d")]) == ["a"]


def test_rate_limit_on_the_journal_handler(log: logging.Logger, sender: RecordingSender) -> None:
    clock = Clock()
    log.handlers[0].addFilter(RateLimit(clock=clock))
    for n in range(4):
        log.warning("xrun %d", n, extra={"DEVICE": "hw:1"})
    clock.now += 10
    log.warning("xrun %d", 4, extra={"DEVICE": "hw:1"})
    messages = [entry["MESSAGE"] for entry in sender.entries]
    assert messages == [
        "[listening] edge_agent.test.audio: xrun 0",
        "[listening] edge_agent.test.audio: xrun 4 (3 similar suppressed)",
    ]
    assert sender.journal_fields()["DEVICE"] == "hw:1"


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="burst"):
        RateLimit(burst=0)
    with pytest.raises(ValueError, match="window_s"):
        RateLimit(window_s=0)
