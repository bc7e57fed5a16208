from examples.expense_approval.demo import main

main()
