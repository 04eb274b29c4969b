"""Both event loops for the tests of code that owns a connection: asyncio's and uvloop's.

``strata serve`` runs on uvloop (see ``shared.server``), whose transports are not asyncio's
classes, so a client that only ever met asyncio's loop may break there (the rate limiter's
RESP client once did). A test module opts in with::

    from tests.support.event_loops import event_loop_policy  # noqa: F401 - a fixture

    pytestmark = [..., BOTH_LOOPS_QUIET]

and each of its asynchronous tests runs once per loop (ids ``[asyncio]`` and ``[uvloop]``).
pytest-asyncio calls overriding ``event_loop_policy`` deprecated in favour of a
``pytest_asyncio_loop_factories`` hook, but a hook must live in a ``conftest.py`` and would
reach every test beside these; the fixture stays with the modules that ask for it.
"""

from __future__ import annotations

import asyncio

import pytest
import uvloop

#: The marker that silences pytest-asyncio's deprecation notice for the fixture below.
BOTH_LOOPS_QUIET = pytest.mark.filterwarnings(
    'ignore:Overriding the "event_loop_policy" fixture is deprecated'
)


@pytest.fixture(params=["asyncio", "uvloop"])
def event_loop_policy(request: pytest.FixtureRequest) -> asyncio.AbstractEventLoopPolicy:
    """asyncio's default loop, then uvloop's."""
    if request.param == "uvloop":
        return uvloop.EventLoopPolicy()
    return asyncio.DefaultEventLoopPolicy()
