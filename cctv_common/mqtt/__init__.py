"""MQTT for both programs: the one paho <-> asyncio bridge and the persistent session."""
