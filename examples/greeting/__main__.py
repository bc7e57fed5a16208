from examples.greeting.demo import main

main()
