from examples.subscription_billing.demo import main

main()
