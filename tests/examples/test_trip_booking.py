"""examples/trip_booking: the saga books everything or compensates in reverse order."""

import pytest
from examples.trip_booking.demo import amain, book, worker
from examples.trip_booking.workflows import Itinerary, TravelAgency, Trip

from perdure.client import Client


async def test_books_the_whole_trip_retrying_a_flaky_hotel(
    perdure_client: Client, perdure_task_queue: str
) -> None:
    agency = TravelAgency(flaky_hotel_calls=2)
    async with worker(perdure_client, agency, perdure_task_queue):
        result = await book(perdure_client, Trip("ada", "Lisbon", 3), perdure_task_queue)
    assert result == Itinerary("car-ada-lisbon", "hotel-ada-lisbon", "flight-ada-lisbon")
    assert agency.calls == [
        "book car",
        "hotel API timed out",
        "hotel API timed out",
        "book hotel",
        "book flight",
    ]


async def test_sold_out_flight_is_not_retried_and_compensates_in_reverse(
    perdure_client: Client, perdure_task_queue: str
) -> None:
    agency = TravelAgency(sold_out=frozenset({"Atlantis"}))
    async with worker(perdure_client, agency, perdure_task_queue):
        result = await book(perdure_client, Trip("alan", "Atlantis", 2), perdure_task_queue)
    assert result == "TripNotBooked: trip to Atlantis not booked: no seats left to Atlantis"
    assert agency.calls == [
        "book car",
        "book hotel",
        "flight sold out",
        "cancel flight",
        "cancel hotel",
        "cancel car",
    ]
    assert agency.bookings == {}


async def test_command_books_one_trip_and_refuses_the_other(
    capsys: pytest.CaptureFixture[str],
) -> None:
    await amain([])
    out = capsys.readouterr().out
    assert "ada to Lisbon: Itinerary(car='car-ada-lisbon'" in out
    assert "alan to Atlantis: TripNotBooked" in out
    assert "bookings left: {}" in out
