"""The needs-assessment policy as versioned data (routing-policy.md).

Each version is a directory holding ``manifest.json`` (id, effective date, status,
parameters) and ``routing.jdm.json``, a GoRules JDM decision graph evaluated by
``zen-engine``. The rules live in those files, not in Python: this package turns a
referral's coded facts into the graph's input, checks versions before they are used, and
reads the graph's answer back into a ``Decision``.
"""
