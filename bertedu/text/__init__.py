"""Text to ids (BERT paper, Sec. 3 "Input/Output Representations", Figure 2).

* :mod:`bertedu.text.tokenizer` - basic tokenization, WordPiece, and :class:`BertTokenizer`;
* :mod:`bertedu.text.wordpiece` - learning a WordPiece vocabulary from a corpus;
* :mod:`bertedu.text.inputs`    - packing ``[CLS] A [SEP] B [SEP]`` (Figure 2), padding, and the two
  truncation rules of the original code (fine-tuning and pre-training).

This package imports no torch at module level (``return_tensors="pt"`` imports it when asked).
"""
