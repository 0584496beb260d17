"""Run every benchmark and print its ratios: `python -m bench`."""

from bench import edge, knowledge, purge, storage, widget

if __name__ == "__main__":
    storage.main()
    edge.main()
    knowledge.main()
    widget.main()
    purge.main()
