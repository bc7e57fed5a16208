"""The Web UI in real headless Chromium (Debian's `chromium`), against Perdure's server:
find a workflow in the list, filter by status, read its history and timeline, see a
failing activity's last failure, signal it and watch the result appear (follow mode),
terminate another through the UI. Screenshots of each page are saved under the test
run's temporary directory (their folder is printed) or PERDURE_UI_SCREENSHOTS."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.server.ui.cdp import Browser, find_browser
from tests.servers import ServerProcess, free_port, start_perdure_server

pytestmark = [pytest.mark.timeout(180), pytest.mark.perdure_only]


@activity.defn
async def always_fails(name: str) -> str:
    raise ApplicationError(f"boom for {name}")


@workflow.defn
class UiFlow:
    def __init__(self) -> None:
        self.approver: str | None = None

    @workflow.run
    async def run(self, name: str) -> str:
        workflow.start_activity(
            always_fails,
            name,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=1),
        )
        await workflow.wait_condition(lambda: self.approver is not None)
        return f"approved by {self.approver} for {name}"

    @workflow.signal
    def approve(self, who: str) -> None:
        self.approver = who

    @workflow.query
    def waiting_for(self, prefix: str) -> str:
        return f"{prefix}: {self.approver or 'nobody yet'}"


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    ui_port = free_port()
    server = start_perdure_server(
        tmp_path_factory.mktemp("ui-server"), extra_args=["--ui-port", str(ui_port)]
    )
    server.ui_port = ui_port
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = os.environ.get("PERDURE_UI_SCREENSHOTS")
    path = Path(where) if where else tmp_path_factory.mktemp("ui-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    print(f"\nUI screenshots: {path}")
    return path


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Browser]:
    executable = find_browser()
    if executable is None:
        pytest.skip("no Chromium: install Debian's `chromium` package (apt-get install chromium)")
    b = await Browser.launch(executable, tmp_path / "profile")
    try:
        yield b
    finally:
        await b.close()


async def test_list_detail_signal_and_terminate(
    ui_server: ServerProcess, browser: Browser, shots: Path, task_queue: str
) -> None:
    client = await Client.connect(ui_server.target)
    base = f"http://127.0.0.1:{ui_server.ui_port}"
    tag = uuid.uuid4().hex[:8]
    approve_id = f"ui-approve-{tag}"
    evil_id = f"<script>alert(1)</script>/{tag}"
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[UiFlow],
        activities=[always_fails],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        approve = await client.start_workflow(
            UiFlow.run, "order-1", id=approve_id, task_queue=task_queue
        )
        evil = await client.start_workflow(UiFlow.run, "order-2", id=evil_id, task_queue=task_queue)
        done = await client.start_workflow(
            UiFlow.run, "order-3", id=f"ui-done-{tag}", task_queue=task_queue
        )
        await done.signal(UiFlow.approve, "bob")
        await done.result()

        # The list: every workflow of the namespace, ours among them.
        await browser.goto(f"{base}/namespaces/default/workflows")
        row = f'#workflow-table tr[data-workflow-id="{approve_id}"]'
        await browser.wait_for(f"document.querySelector({json.dumps(row)})")
        await browser.wait_for("document.querySelector('#status-counts button')")
        await browser.screenshot(shots / "01-workflow-list.png")

        # Filter by status with the helper: only running workflows stay.
        await browser.fill("#filter-status", "Completed")
        await browser.click("#apply-filters")
        await browser.wait_for(
            f"document.querySelector('#list-query').value.includes('Completed')"
            f" && document.querySelector('tr[data-workflow-id=\"ui-done-{tag}\"]')"
            f" && !document.querySelector({json.dumps(row)})"
        )
        statuses = await browser.evaluate(
            "[...document.querySelectorAll('#workflow-table tbody [data-status]')]"
            ".map(e => e.dataset.status)"
        )
        assert statuses and set(statuses) == {"Completed"}
        await browser.screenshot(shots / "02-filtered-by-status.png")
        # Paging by the next-page token, one row a page.
        query = quote(f'TaskQueue = "{task_queue}"')
        await browser.goto(f"{base}/namespaces/default/workflows?query={query}&pageSize=1")
        seen = []
        for _ in range(3):
            await browser.wait_for(
                "document.querySelectorAll('#workflow-table tbody tr[data-workflow-id]').length"
                f" === 1 && !{json.dumps(seen)}.includes(document.querySelector"
                "('#workflow-table tbody tr[data-workflow-id]').dataset.workflowId)"
            )
            seen.append(
                await browser.evaluate(
                    "document.querySelector('#workflow-table tbody tr').dataset.workflowId"
                )
            )
            if len(seen) < 3:
                await browser.click("#next-page")
        assert sorted(seen) == sorted([approve_id, evil_id, f"ui-done-{tag}"])
        await browser.click("#prev-page")
        await browser.wait_for(
            "document.querySelector('#workflow-table tbody tr').dataset.workflowId"
            f" === {json.dumps(seen[1])}"
        )
        await browser.screenshot(shots / "02b-paging.png")

        await browser.fill("#list-query", f'WorkflowId = "{approve_id}"')
        await browser.click("#search-button")
        await browser.wait_for(f"document.querySelector({json.dumps(row)})")

        # Open it: summary, input, history with its events, the timeline.
        await browser.click(f"{row} a")
        await browser.wait_for("document.querySelector('#history-table')")
        assert (
            await browser.evaluate("document.querySelector('#summary-workflow-id').textContent")
            == approve_id
        )
        assert "order-1" in await browser.evaluate(
            "document.querySelector('#workflow-input').textContent"
        )
        await browser.wait_for(
            "document.querySelector('#history-table tr[data-event-type=ActivityTaskScheduled]')"
        )
        await browser.click("#history-table tr[data-event-type=WorkflowExecutionStarted]")
        await browser.wait_for("document.querySelector('tr.event-details:not([hidden]) pre')")
        await browser.screenshot(shots / "03-workflow-history.png")
        await browser.click("[data-tab=timeline]")
        await browser.wait_for(
            "document.querySelector('#timeline [data-kind=activity][data-outcome=retrying]')"
            " && document.querySelector('#timeline').textContent.includes('boom for order-1')",
            timeout=40,
        )
        await browser.screenshot(shots / "04-workflow-timeline.png")

        # The failing activity's last failure, as the pending activity shows it.
        await browser.click("[data-tab=pending-activities]")
        await browser.wait_for(
            "document.querySelector('.last-failure') &&"
            " document.querySelector('.last-failure').textContent.includes('boom for order-1')",
            timeout=40,
        )
        await browser.screenshot(shots / "05-pending-activity-failure.png")

        # A query through its form; the call stack from a worker.
        await browser.click("#action-query")
        await browser.fill("#query-name", "waiting_for")
        await browser.fill("#query-args", '["approver"]')
        await browser.click("#confirm-yes")
        await browser.wait_for(
            "document.querySelector('#query-result') && document.querySelector"
            "('#query-result').textContent.includes('approver: nobody yet')"
        )
        await browser.click("[data-tab=stack-trace]")
        await browser.wait_for(
            "document.querySelector('#stack-trace') &&"
            " document.querySelector('#stack-trace').textContent.includes('workflow: UiFlow')"
        )
        await browser.screenshot(shots / "05b-call-stack.png")

        # Follow mode on, then a signal through the form: the result appears by itself.
        await browser.click("[data-tab=history]")
        await browser.wait_for("document.querySelector('#history-table')")
        await browser.click("#follow")
        await browser.click("#action-signal")
        await browser.fill("#signal-name", "approve")
        await browser.fill("#signal-args", '["alice"]')
        await browser.click("#confirm-yes")
        await browser.wait_for(
            "document.querySelector('#workflow-result') && document.querySelector"
            "('#workflow-result').textContent.includes('approved by alice for order-1')",
            timeout=40,
        )
        await browser.screenshot(shots / "06-signalled-and-completed.png")
        assert await approve.result() == "approved by alice for order-1"

        # A deep link in Temporal's UI form, to a workflow whose id is HTML: shown as text.
        describe = await evil.describe()
        deep_link = f"/namespaces/default/workflows/{quote(evil_id, safe='')}/{describe.run_id}"
        await browser.goto(f"{base}{deep_link}/history")
        await browser.wait_for("document.querySelector('#workflow-title')")
        assert (
            await browser.evaluate("document.querySelector('#workflow-title').textContent")
            == evil_id
        )
        assert await browser.evaluate("document.querySelectorAll('script').length") == 1
        await browser.click("#action-terminate")
        await browser.fill("#action-reason", "closed from the UI")
        await browser.click("#confirm-yes")
        await browser.wait_for(
            "document.querySelector('#workflow-title + [data-status=Terminated]')"
        )
        await browser.screenshot(shots / "07-terminated.png")
        assert browser.dialogs == []

    assert (await evil.describe()).status == WorkflowExecutionStatus.TERMINATED
    history = await evil.fetch_history()
    assert history.events[-1].workflow_execution_terminated_event_attributes.reason == (
        "closed from the UI"
    )


async def test_namespaces_and_schedules_pages(
    ui_server: ServerProcess, browser: Browser, shots: Path
) -> None:
    base = f"http://127.0.0.1:{ui_server.ui_port}"
    await browser.goto(f"{base}/namespaces")
    await browser.wait_for("document.querySelector('#namespace-table a')")
    names = await browser.evaluate(
        "[...document.querySelectorAll('#namespace-table a')].map(a => a.textContent)"
    )
    assert "default" in names
    await browser.screenshot(shots / "08-namespaces.png")
    await browser.goto(f"{base}/namespaces/default/schedules")
    await browser.wait_for(
        "document.querySelector('#schedule-table') || [...document.querySelectorAll"
        "('main p, main .error')].some(e => !e.textContent.includes('Loading'))"
    )
    await browser.screenshot(shots / "09-schedules.png")

    # The dark theme, and a phone-sized screen.
    await browser.goto(f"{base}/namespaces/default/workflows")
    await browser.click("#theme-toggle")
    await browser.wait_for("document.documentElement.dataset.theme === 'dark'")
    await browser.wait_for("document.querySelector('#workflow-table')")
    await browser.screenshot(shots / "10-dark-theme.png")
    await browser.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True},
    )
    await browser.goto(f"{base}/namespaces/default/workflows")
    await browser.wait_for("document.querySelector('#workflow-table')")
    overflow = await browser.evaluate(
        "document.documentElement.scrollWidth <= window.innerWidth + 1"
    )
    await browser.screenshot(shots / "11-phone.png")
    assert overflow, "the page is wider than a phone's screen"
