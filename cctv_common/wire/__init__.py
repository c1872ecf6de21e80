"""The MQTT contract between agent and hub: topics, payloads, ids, chunk ranges, job states and
the hub's signatures on what it tells a site."""
