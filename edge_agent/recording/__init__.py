"""Recording: every camera's recorder (a process of its own, supervised from the agent), the
segments it writes by stream copy with their timing and gaps, and the janitor that keeps the ring
buffer within its bounds and recovers what a crash left behind.
"""
