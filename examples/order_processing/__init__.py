"""Order processing: payment, inventory reservation with a timeout, shipping, cancel, status."""
