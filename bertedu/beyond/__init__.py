"""Part V: what came after BERT, built on bertedu's own pieces (chapter 13).

* :mod:`bertedu.beyond.span_masking`: SpanBERT's span masking (Joshi et al. 2020), one more masking variant;
* :mod:`bertedu.beyond.albert`: ALBERT's factorised embeddings and cross-layer sharing (Lan et al. 2019);
* :mod:`bertedu.beyond.distill`: distillation into a smaller student (Hinton et al. 2015; DistilBERT);
* :mod:`bertedu.beyond.pooling`: sentence embeddings, cosine search and cross-encoder scores (Sentence-BERT);
* :mod:`bertedu.beyond.limits`: quadratic attention timed, and "generation" by filling [MASK] tokens.

Nothing is imported here; import the submodules.
"""
