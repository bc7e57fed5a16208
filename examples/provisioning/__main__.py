from examples.provisioning.demo import main

main()
