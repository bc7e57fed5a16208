from examples.signup_form.demo import main

main()
