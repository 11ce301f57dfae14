"""The node's services: tasks that read and write PostgreSQL beside the actors (the
emergency watch, the reconciler, the ack writers, the manifest feed, presence, the GC
policy, housekeeping, the fleet writer) and tell the actors what they found."""
