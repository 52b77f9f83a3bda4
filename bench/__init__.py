"""`make bench` (`python -m bench`): loads a large dataset into a database of its own,
starts the whole stack as the Procfile does, and prints throughput, latency and
vote-propagation figures. It measures; it asserts nothing about speed."""
