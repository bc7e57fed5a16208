from examples.trip_booking.demo import main

main()
