"""The processes of a container start and exec: the fork/init steps, the runtime channel, the monitor."""
