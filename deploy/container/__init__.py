"""What the hub's container image runs besides the services themselves: the entrypoint that
turns mounted secret files into settings, and the job that creates the Kafka topics. Only this
package (not the local stack) is copied into the image."""
