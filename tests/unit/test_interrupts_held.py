"""Ctrl-C during the start of a child is held until the child is recorded, then delivered."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from stack.drivers.local.process import interrupts_held


def test_ctrl_c_inside_the_block_is_delivered_after_it() -> None:
    recorded = []
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            with interrupts_held():
                os.kill(os.getpid(), signal.SIGINT)
                recorded.append("child")  # still reached: the interrupt waits for the block's end
        assert recorded == ["child"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


def test_nothing_held_means_nothing_raised() -> None:
    before = signal.getsignal(signal.SIGINT)
    with interrupts_held():
        pass
    assert signal.getsignal(signal.SIGINT) is before


def test_sigterm_goes_to_the_handler_that_was_there_before() -> None:
    seen: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        with interrupts_held():
            os.kill(os.getpid(), signal.SIGTERM)
            assert seen == []
        assert seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_outside_the_main_thread_it_only_runs_the_block() -> None:
    ran = []

    def body() -> None:
        with interrupts_held():
            ran.append(True)

    worker = threading.Thread(target=body)
    worker.start()
    worker.join()
    assert ran == [True]


class Terminated(Exception):
    pass


def test_both_handlers_are_back_when_one_raises_while_the_other_is_put_back() -> None:
    def terminate(signum: int, frame: object) -> None:
        raise Terminated()

    before_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    before_term = signal.signal(signal.SIGTERM, terminate)
    try:
        with pytest.raises((KeyboardInterrupt, Terminated)):
            with interrupts_held():
                os.kill(os.getpid(), signal.SIGINT)
                os.kill(os.getpid(), signal.SIGTERM)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert signal.getsignal(signal.SIGTERM) is terminate
    finally:
        signal.signal(signal.SIGINT, before_int)
        signal.signal(signal.SIGTERM, before_term)
