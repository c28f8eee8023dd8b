"""The search thread: a search started there returns what it returns on the caller's thread, raises what it
raises, and runs while the caller goes on."""

from __future__ import annotations

import os
import threading

import pytest
import torch

from interhandgen_core.geometry.background_search import search_in_background
from interhandgen_core.geometry.nearest import nearest_neighbors_torch
from interhandgen_core.geometry.tree_nearest import nearest_indices, nearest_indices_both_ways


def test_a_search_on_the_search_thread_gives_the_callers_result() -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(3, 200, 3, generator=g), torch.randn(3, 150, 3, generator=g)
    started = search_in_background(nearest_indices, a, b)
    assert torch.equal(started.result(), nearest_indices(a, b))
    # Both ways at once (one of them on the search thread) equal the slow reference each way.
    to_b, to_a = nearest_indices_both_ways(a, b)
    assert torch.equal(to_b, nearest_neighbors_torch(a, b)[1]) and torch.equal(to_a, nearest_neighbors_torch(b, a)[1])


def test_a_failing_search_raises_to_its_caller() -> None:
    def broken() -> None:
        raise ValueError("a cloud tree needs points (M, 3)")

    with pytest.raises(ValueError, match="cloud tree needs"):
        search_in_background(broken).result()


def test_the_caller_goes_on_while_the_search_runs() -> None:
    release = threading.Event()
    started = search_in_background(release.wait, 5.0)
    assert not started.done()  # the caller was not held up by it
    release.set()
    assert started.result() is True


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_its_own_search_thread() -> None:
    assert search_in_background(abs, -1).result() == 1  # the parent's thread exists now
    child = os.fork()
    if child == 0:  # the child: without a thread of its own this search would never run
        code = 1
        try:
            code = 0 if search_in_background(abs, -2).result(timeout=10) == 2 else 1
        finally:
            os._exit(code)  # never back into pytest
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
