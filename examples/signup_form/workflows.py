"""A sign-up form as a workflow: one per browser session.

Each step of the form is an update: its validator checks the answers (and that the
step is one the user may fill now) before anything is recorded, so a bad answer is
an error for the page to show and leaves no trace in the history; a good one returns
the form's new state at once. The session survives restarts of the web server and of
the workers, expires after half an hour without input, and creates the account once,
when the user confirms.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta

from perdure import activity, workflow

STEPS = ("contact", "address", "plan")
PLANS = ("free", "pro")


@dataclass(frozen=True)
class StepAnswer:
    step: str
    fields: dict[str, str]


@dataclass(frozen=True)
class FormView:
    status: str
    """open, done or abandoned."""
    next_step: str | None
    """The first step not yet answered (None when all are)."""
    answers: dict[str, dict[str, str]] = field(default_factory=dict)
    account_id: str | None = None


def check_answer(answer: StepAnswer) -> None:
    """Raise ValueError, with a message for the user, if the step's fields are wrong."""
    fields = answer.fields
    if answer.step == "contact":
        if not fields.get("name", "").strip():
            raise ValueError("name is required")
        if "@" not in fields.get("email", ""):
            raise ValueError("email must be an email address")
    elif answer.step == "address":
        missing = [key for key in ("city", "country") if not fields.get(key, "").strip()]
        if missing:
            raise ValueError(f"{' and '.join(missing)} required")
    elif answer.step == "plan":
        if fields.get("plan") not in PLANS:
            raise ValueError(f"plan must be one of {', '.join(PLANS)}")
    else:
        raise ValueError(f"no step {answer.step!r} (steps: {', '.join(STEPS)})")


@dataclass
class Accounts:
    """Stands in for the user database."""

    created: list[dict[str, dict[str, str]]] = field(default_factory=list)

    @activity.defn
    async def create_account(self, answers: dict[str, dict[str, str]]) -> str:
        self.created.append(answers)
        return f"acct-{len(self.created)}"


@workflow.defn
class SignupForm:
    """Collects the steps' answers, then creates the account on confirmation."""

    def __init__(self) -> None:
        self._view = FormView("open", STEPS[0])
        self._inputs = 0
        self._confirmed = False

    @workflow.run
    async def run(self, idle_minutes: float = 30) -> FormView:
        while not self._confirmed:
            if not await self._input_within(timedelta(minutes=idle_minutes)):
                self._view = replace(self._view, status="abandoned")
                return self._view
        account_id = await workflow.execute_activity_method(
            Accounts.create_account, self._view.answers, start_to_close_timeout=timedelta(minutes=1)
        )
        self._view = replace(self._view, status="done", account_id=account_id)
        return self._view

    @workflow.update
    def submit(self, answer: StepAnswer) -> FormView:
        """Record one step's answers (a step already answered may be changed)."""
        answers = {**self._view.answers, answer.step: answer.fields}
        next_step = next((step for step in STEPS if step not in answers), None)
        self._view = replace(self._view, answers=answers, next_step=next_step)
        self._inputs += 1
        return self._view

    @submit.validator
    def _check_submit(self, answer: StepAnswer) -> None:
        self._check_open()
        check_answer(answer)
        if STEPS.index(answer.step) > STEPS.index(self._view.next_step or STEPS[-1]):
            raise ValueError(f"answer {self._view.next_step!r} first")

    @workflow.update
    async def confirm(self) -> FormView:
        """Create the account; returns the form with the new account's id."""
        self._confirmed = True
        await workflow.wait_condition(lambda: self._view.account_id is not None)
        return self._view

    @confirm.validator
    def _check_confirm(self) -> None:
        self._check_open()
        if self._view.next_step is not None:
            raise ValueError(f"answer {self._view.next_step!r} first")

    @workflow.query
    def view(self) -> FormView:
        return self._view

    async def _input_within(self, idle: timedelta) -> bool:
        """Whether the user answered or confirmed before ``idle`` passed."""
        inputs = self._inputs
        try:
            await workflow.wait_condition(
                lambda: self._inputs != inputs or self._confirmed, timeout=idle
            )
        except TimeoutError:
            return False
        return True

    def _check_open(self) -> None:
        if self._confirmed or self._view.status != "open":
            raise ValueError(f"the form is {'confirmed' if self._confirmed else self._view.status}")
