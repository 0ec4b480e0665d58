"""``python -m crossmedia`` (what ``torchrun -m crossmedia train …`` starts on every rank)."""

from .cli.main import entry

if __name__ == "__main__":
    entry()
