"""The book's data: where each data set lives and readers that turn its files into Python objects.

* :mod:`~bertedu.datasets.registry` - the registered data sets (:class:`Source` records) and their
  files' sha256 sums (the package data file ``SHA256SUMS``);
* :mod:`~bertedu.datasets.download` - find a data set (``$BERTEDU_DATA``, the cache) or download and
  verify it: :func:`bertedu.dataset_path`, :func:`bertedu.data_file`;
* :mod:`~bertedu.datasets.corpora`  - pre-training corpora as documents of sentences (WikiText,
  Gutenberg, speeches) and the sentence splitter;
* :mod:`~bertedu.datasets.glue`     - GLUE TSV readers (fine-tuning, Sec. 4.1);
* :mod:`~bertedu.datasets.tasks`    - the other fine-tuning tasks' readers.

Nothing is imported here: ``import bertedu.datasets.glue`` loads only what it needs.
"""
