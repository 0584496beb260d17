"""Benchmarks that print ratios against a baseline measured in the same run (`make bench`)."""

import os

# They measure fresh appliances of their own: no `chatspark` they start reads this machine's installed settings.
os.environ.setdefault("CHATSPARK_CONFIG", os.devnull)
