"""`python -m chaos --scenario NAME --seconds N`: run one scenario, print its report."""

from chaos.run import main

if __name__ == "__main__":
    main()
