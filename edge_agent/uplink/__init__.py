"""The agent's side of MQTT: the connection to the broker (the common bridge with the site's
login), the chunk upload plan, and the camera events sent to the hub.
"""
