"""Site health: the checks an engineer runs (``cctv-provision check``) and the agent repeats."""
