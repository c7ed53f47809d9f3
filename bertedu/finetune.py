"""``python -m bertedu.finetune --help``: fine-tune a BERT encoder on one task (see :mod:`bertedu.finetuning.cli`)."""

from bertedu.finetuning.cli import main

if __name__ == "__main__":
    main()
