"""The adapter's use cases: work items (``work_items``), webhook delivery (``webhooks``)
and provider keys (``keys``)."""
