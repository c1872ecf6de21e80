"""Legal holds at the edge: verify the hub's signed hold orders, pin or unpin the camera's
footage over the window in the segment index, and report the holds in force in the status.
"""
