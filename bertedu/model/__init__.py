"""The BERT network (BERT paper, Sec. 3 "Model Architecture", Sec. 3.1 pre-training heads).

* :mod:`~bertedu.model.embeddings` - token + segment + position embeddings (Figure 2);
* :mod:`~bertedu.model.attention`  - the shape legend, scaled dot-product and multi-head self-attention;
* :mod:`~bertedu.model.encoder`    - the post-LN Transformer block, stacked L times;
* :mod:`~bertedu.model.bert`       - :class:`BertModel`, the pooler and the weight initialisation;
* :mod:`~bertedu.model.heads`      - masked-LM and NSP heads and their losses;
* :mod:`~bertedu.model.checks`     - input and label validation;
* :mod:`~bertedu.model.checkpoint` - loading and saving real checkpoints (the reference key format).

This package imports only :mod:`bertedu.config` and :mod:`bertedu._io` from the rest of bertedu.
"""
