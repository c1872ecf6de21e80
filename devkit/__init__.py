"""The test kit: the real parts tests, benches and the demo start (the product never imports it)."""
