"""Run every benchmark and print its ratios: `python -m bench`."""

from bench import storage

if __name__ == "__main__":
    storage.main()
