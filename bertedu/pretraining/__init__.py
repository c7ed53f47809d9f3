"""Pre-training BERT (paper Sec. 3.1 and Appendix A.1-A.2): masked LM + next sentence prediction.

* :mod:`~bertedu.pretraining.masking`     - choosing and corrupting MLM targets (15%, 80/10/10);
* :mod:`~bertedu.pretraining.nsp`         - sentence pairs for NSP (and ALBERT's SOP);
* :mod:`~bertedu.pretraining.data`        - data sets of masked pairs and the resumable batch stream;
* :mod:`~bertedu.pretraining.recipe`      - the paper's recipe on one process: config, AdamW groups,
  schedule, train step, evaluation, frequency baseline;
* :mod:`~bertedu.pretraining.state`       - resumable checkpoints and the metrics log;
* :mod:`~bertedu.pretraining.distributed` - data-parallel training under ``torchrun``;
* :mod:`~bertedu.pretraining.loop`        - :func:`bertedu.train`, the run that ties them together;
* :mod:`~bertedu.pretraining.cli`         - ``python -m bertedu.pretrain``.
"""
