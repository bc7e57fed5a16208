"""examples/signup_form: a form session per workflow, answered over HTTP through updates."""

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from examples.signup_form.demo import amain, call, worker
from examples.signup_form.web import FormServer
from examples.signup_form.workflows import Accounts

from perdure.testing import WorkflowEnvironment

CONTACT = {"name": "Ada", "email": "ada@example.org"}
ADDRESS = {"city": "London", "country": "UK"}


class Browser:
    def __init__(self, base: str) -> None:
        self.base = base

    async def __call__(
        self, method: str, path: str, fields: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        return await asyncio.to_thread(call, self.base, method, path, fields)


@pytest.fixture
def accounts() -> Accounts:
    return Accounts()


@pytest.fixture
async def browser(
    perdure_env: WorkflowEnvironment, perdure_task_queue: str, accounts: Accounts
) -> AsyncIterator[Browser]:
    async with worker(perdure_env.client, accounts, perdure_task_queue):
        server = await FormServer(perdure_env.client, perdure_task_queue).start()
        async with server:
            host, port = server.sockets[0].getsockname()[:2]
            yield Browser(f"http://{host}:{port}")


async def test_steps_in_order_then_one_account(browser: Browser, accounts: Accounts) -> None:
    status, started = await browser("POST", "/forms")
    assert status == 201 and started["form"]["next_step"] == "contact"
    form = f"/forms/{started['session']}"

    assert await browser("POST", f"{form}/address", ADDRESS) == (
        422,
        {"error": "answer 'contact' first"},
    )
    assert await browser("POST", f"{form}/contact", {"name": "Ada"}) == (
        422,
        {"error": "email must be an email address"},
    )
    status, view = await browser("POST", f"{form}/contact", CONTACT)
    assert status == 200 and view["next_step"] == "address"
    await browser("POST", f"{form}/address", ADDRESS)
    assert await browser("POST", f"{form}/confirm") == (422, {"error": "answer 'plan' first"})
    status, view = await browser("POST", f"{form}/plan", {"plan": "pro"})
    assert view["next_step"] is None
    status, view = await browser("POST", f"{form}/contact", {**CONTACT, "name": "Ada L."})
    assert status == 200 and view["answers"]["contact"]["name"] == "Ada L."  # changed

    status, done = await browser("POST", f"{form}/confirm")
    assert status == 200 and done["status"] == "done" and done["account_id"] == "acct-1"
    assert await browser("GET", form) == (200, done)
    assert accounts.created == [
        {"contact": {**CONTACT, "name": "Ada L."}, "address": ADDRESS, "plan": {"plan": "pro"}}
    ]


async def test_a_session_left_alone_for_half_an_hour_is_abandoned(
    browser: Browser, perdure_env: WorkflowEnvironment, accounts: Accounts
) -> None:
    _, started = await browser("POST", "/forms")
    form = f"/forms/{started['session']}"
    await browser("POST", f"{form}/contact", CONTACT)
    await perdure_env.sleep(timedelta(minutes=29))
    await browser("POST", f"{form}/address", ADDRESS)  # input restarts the half hour
    await perdure_env.sleep(timedelta(minutes=29))
    assert (await browser("GET", form))[1]["status"] == "open"
    await perdure_env.sleep(timedelta(minutes=2))
    status, view = await browser("GET", form)
    assert status == 200 and view["status"] == "abandoned"
    assert accounts.created == []


async def test_unknown_sessions_and_routes(browser: Browser) -> None:
    assert await browser("GET", "/forms/form-nope") == (404, {"error": "no session form-nope"})
    assert (await browser("GET", "/elsewhere"))[0] == 404


async def test_command_fills_in_one_form(capsys: pytest.CaptureFixture[str]) -> None:
    await amain(["--demo"])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 7
    assert "-> 422 {'error': 'email must be an email address'}" in lines[1]
    assert lines[-1].endswith("'account_id': 'acct-1'}")
