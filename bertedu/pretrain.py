"""``python -m bertedu.pretrain --help``: pre-train a small BERT (see :mod:`bertedu.pretraining.cli`)."""

from bertedu.pretraining.cli import main

if __name__ == "__main__":
    main()
