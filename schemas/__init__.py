"""The hub's shared language: event envelope, event models, topic names and code lists.

Everything that crosses a process boundary is defined here once, so that producers and
consumers cannot drift apart and a topic name changes in one place.
"""
