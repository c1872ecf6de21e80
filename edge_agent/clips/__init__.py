"""Evidence items at the edge: the pure cut plan, the stream-copy cutter (segment chain, timeline,
remux) and the signed evidence item (clip, manifest, signature) made from them.
"""
