"""The code family: programs run against tests in a sandbox (`code`)."""
