"""StopSignals: the SIGINT/SIGTERM handling shared by ``serve`` and ``serve --replicas``."""

from __future__ import annotations

import os
import signal

import pytest

from serving.signals import Interrupted, StopSignals


def test_a_signal_interrupts_while_starting_and_only_sets_stop_afterwards() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted), StopSignals() as signals:
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs before the next line
        pytest.fail("the signal did not interrupt")
    assert signals.stop.is_set()
    with StopSignals() as signals:
        signals.starting = False
        os.kill(os.getpid(), signal.SIGINT)
        assert signals.stop.wait(5.0)
    assert signal.getsignal(signal.SIGTERM) is before
