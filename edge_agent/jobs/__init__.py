"""Clip jobs on the agent: receive and verify the hub's signed job, pin its window, cut one at a
time, upload the clip until the hub's signed ack says it is stored, then delete the local copy.
"""
