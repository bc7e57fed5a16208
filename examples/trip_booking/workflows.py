"""The saga: each booking registers its compensation before it runs.

A compensation is registered *before* its booking runs, because a booking can succeed
at the provider and still look failed to us (a timeout on the way back). Compensations
run in reverse order and must be idempotent: cancelling a booking that does not exist
is a no-op. A flight that is sold out fails with a non-retryable error (retrying will
not make seats appear); a hotel API that times out is retried by the activity's retry
policy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

from perdure import activity, workflow
from perdure.common import RetryPolicy
from perdure.exceptions import ActivityError, ApplicationError


@dataclass(frozen=True)
class Trip:
    traveller: str
    destination: str
    nights: int


@dataclass(frozen=True)
class Itinerary:
    car: str
    hotel: str
    flight: str


@dataclass
class TravelAgency:
    """Stands in for the car, hotel and airline APIs; remembers what it was asked to do.

    ``sold_out`` destinations have no seats left; the hotel API fails
    ``flaky_hotel_calls`` times before it answers.
    """

    sold_out: frozenset[str] = frozenset()
    flaky_hotel_calls: int = 0
    bookings: dict[str, str] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def _book(self, kind: str, trip: Trip) -> str:
        reference = f"{kind}-{trip.traveller}-{trip.destination}".lower()
        self.bookings[kind] = reference
        self.calls.append(f"book {kind}")
        return reference

    def _cancel(self, kind: str) -> None:
        self.bookings.pop(kind, None)
        self.calls.append(f"cancel {kind}")

    @activity.defn
    async def book_car(self, trip: Trip) -> str:
        return self._book("car", trip)

    @activity.defn
    async def book_hotel(self, trip: Trip) -> str:
        if self.flaky_hotel_calls > 0:
            self.flaky_hotel_calls -= 1
            self.calls.append("hotel API timed out")
            raise RuntimeError("hotel API timed out")  # retryable: the retry policy tries again
        return self._book("hotel", trip)

    @activity.defn
    async def book_flight(self, trip: Trip) -> str:
        if trip.destination in self.sold_out:
            self.calls.append("flight sold out")
            raise ApplicationError(
                f"no seats left to {trip.destination}", type="SoldOut", non_retryable=True
            )
        return self._book("flight", trip)

    @activity.defn
    async def cancel_car(self, trip: Trip) -> None:
        self._cancel("car")

    @activity.defn
    async def cancel_hotel(self, trip: Trip) -> None:
        self._cancel("hotel")

    @activity.defn
    async def cancel_flight(self, trip: Trip) -> None:
        self._cancel("flight")


T = TypeVar("T")

BOOKING_RETRIES = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5)


@workflow.defn
class TripBooking:
    """Books a whole trip or nothing."""

    @workflow.run
    async def run(self, trip: Trip) -> Itinerary:
        compensations: list[Callable[[TravelAgency, Trip], Awaitable[None]]] = []
        try:
            compensations.append(TravelAgency.cancel_car)
            car = await _call(TravelAgency.book_car, trip)
            compensations.append(TravelAgency.cancel_hotel)
            hotel = await _call(TravelAgency.book_hotel, trip)
            compensations.append(TravelAgency.cancel_flight)
            flight = await _call(TravelAgency.book_flight, trip)
        except ActivityError as err:
            workflow.logger.info("Booking failed, compensating %d step(s)", len(compensations))
            for compensate in reversed(compensations):
                await _call(compensate, trip)
            reason = err.cause.message if isinstance(err.cause, ApplicationError) else str(err)
            raise ApplicationError(
                f"trip to {trip.destination} not booked: {reason}",
                type="TripNotBooked",
                non_retryable=True,
            ) from err
        return Itinerary(car=car, hotel=hotel, flight=flight)


async def _call(step: Callable[[TravelAgency, Trip], Awaitable[T]], trip: Trip) -> T:
    """One step of the saga (a booking or a compensation) as an activity."""
    return await workflow.execute_activity_method(
        step, trip, start_to_close_timeout=timedelta(seconds=30), retry_policy=BOOKING_RETRIES
    )
