"""The fault hook itself (nas/search/_faults.py): what NAS_FAULT_POINT accepts, that every point
it documents is marked in the driver, and that the fault tests stop the driver at every one."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from nas.search import _faults
from tests.faults.test_faults_kill import KILLS
from tests.faults.test_faults_signals import TERMS

DRIVER = Path(_faults.__file__).with_name("driver.py")


def test_unset_means_disarmed():
    assert _faults._ARMED is None  # the test process runs without NAS_FAULT_POINT
    _faults.point("record.rows")  # returns at once


@pytest.mark.parametrize(
    "value, armed",
    [
        ("record.rows:2", ("record.rows", 2, signal.SIGKILL)),
        ("epoch:1:SIGTERM", ("epoch", 1, signal.SIGTERM)),
        ("ask:3:sigstop", ("ask", 3, signal.SIGSTOP)),
        ("", None),
    ],
)
def test_values_it_accepts(value, armed):
    assert _faults._parse(value) == armed


@pytest.mark.parametrize("value", ["bogus:1", "record.rows", "record.rows:0", "record.rows:x", "ask:1:SIGNOPE"])
def test_a_bad_value_is_refused_naming_the_variable(value):
    with pytest.raises(ValueError, match=re.escape(f"NAS_FAULT_POINT={value!r}: use NAME:COUNT")):
        _faults._parse(value)


def test_every_point_is_marked_in_the_driver_and_stopped_at_by_a_test():
    marked = set(re.findall(r'_faults\.point\("([\w.]+)"\)', DRIVER.read_text()))
    assert marked == set(_faults.POINTS)
    tested = {spec.split(":")[0] for spec, *_ in [*KILLS.values(), *TERMS.values()]} | {"recover"}
    assert tested == set(_faults.POINTS)
