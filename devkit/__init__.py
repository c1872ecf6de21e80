"""The test kit and the demo: a test camera, a local Mosquitto, a whole site on loopback, the
configs they run with, and ``cctv-demo``. Used by the tests, the benches and the demo; nothing in
the product (hub, edge_agent, provisioning, cctv_common, cctv_onvif) imports it."""
