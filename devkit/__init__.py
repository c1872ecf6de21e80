"""The test kit: real parts that stand in for site hardware in tests, benchmarks and the demo.

Imported by tests and bench, never by the product (hub, edge_agent, provisioning, cctv_common).
"""
