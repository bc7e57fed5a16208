from examples.order_processing.demo import main

main()
