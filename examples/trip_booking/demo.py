"""Books a trip that works out and one whose flight is sold out."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

from examples.common import argument_parser, connected
from examples.trip_booking.workflows import Itinerary, TravelAgency, Trip, TripBooking
from perdure.client import Client, WorkflowFailureError
from perdure.worker import Worker

TASK_QUEUE = "trips"


def worker(client: Client, agency: TravelAgency, task_queue: str = TASK_QUEUE) -> Worker:
    """A worker for the saga and the agency's activities."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[TripBooking],
        activities=[
            agency.book_car,
            agency.book_hotel,
            agency.book_flight,
            agency.cancel_car,
            agency.cancel_hotel,
            agency.cancel_flight,
        ],
    )


async def book(client: Client, trip: Trip, task_queue: str = TASK_QUEUE) -> Itinerary | str:
    """The itinerary, or why the trip could not be booked."""
    try:
        return await client.execute_workflow(
            TripBooking.run, trip, id=f"trip-{uuid.uuid4()}", task_queue=task_queue
        )
    except WorkflowFailureError as err:
        return str(err.cause)


async def amain(argv: Sequence[str] | None = None) -> None:
    args = argument_parser("Book trips with a saga.").parse_args(argv)
    agency = TravelAgency(sold_out=frozenset({"Atlantis"}), flaky_hotel_calls=1)
    async with connected(args.target) as client, worker(client, agency):
        for trip in (Trip("ada", "Lisbon", 3), Trip("alan", "Atlantis", 2)):
            print(f"{trip.traveller} to {trip.destination}: {await book(client, trip)}")
    print("calls to the agency:", ", ".join(agency.calls))
    print("bookings left:", agency.bookings)


def main(argv: Sequence[str] | None = None) -> None:
    asyncio.run(amain(argv))
