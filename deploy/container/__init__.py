"""What the hub's container image runs besides the services themselves: the job that makes
the Kafka topics, credentials and ACLs. Only this package (not the local stack) is copied into
the image."""
