"""bertedu's own implementations, wrapped to the bug hunt's signatures, so that the same checks judge them.

``LIBRARY[n]()`` returns the library's version of bug #n's implementation.  Bugs #8 and #9 are checked
*against* the library (it is their reference), #11 is about data plumbing around the library and #14
about token strings, which bertedu never masks; they have no entry.
"""

from __future__ import annotations

from typing import Callable

import torch


def mlm_loss():
    from bertedu.model.heads import mlm_loss as library_loss

    def bertedu_mlm_loss(logits, labels):
        return library_loss(logits.flatten(0, 1), labels.flatten())          # (N, V), (N,)
    return bertedu_mlm_loss


def nsp_loss():
    from bertedu import BertConfig, BertForPreTraining

    def bertedu_nsp_loss(logits, labels):
        """BertForPreTraining's NSP loss, with its classifier made to output exactly ``logits``."""
        config = BertConfig(vocab_size=10, hidden_size=4, num_hidden_layers=1, num_attention_heads=1,
                            intermediate_size=4)
        model = BertForPreTraining(config, generator=torch.Generator().manual_seed(0))
        head = model.cls.seq_relationship
        pooled = model.bert.pooler
        pooled.forward = lambda hidden: torch.zeros(len(labels), 4)           # C = 0 ...
        head.forward = lambda c: c[:, :2] + logits                            # ... so the logits are ours
        ids = torch.full((len(labels), 3), 5)
        return model(ids, next_sentence_label=labels).nsp_loss
    return bertedu_nsp_loss


def random_next():
    from bertedu.pretraining.nsp import random_continuation

    def bertedu_random_next(docs, index, rng):
        tokens = random_continuation([[s.split() for s in d] for d in docs], index, 1, rng)
        return int(tokens[0][1:]), 0                                          # sentences read "d<doc> s<k>"
    return bertedu_random_next


def masker():
    from bertedu import mask_tokens

    from bertedu.study.bughunt.masking import MASK, SPECIAL

    def bertedu_mask_tokens(input_ids, vocab_size, generator):
        out = mask_tokens(input_ids, special_ids=SPECIAL, vocab_size=vocab_size, mask_token_id=MASK,
                          generator=generator)
        return out.input_ids, out.labels
    return bertedu_mask_tokens


def attention_bias():
    from bertedu import make_attention_bias

    def bertedu_attention_bias(attention_mask, dtype):
        return make_attention_bias(attention_mask, dtype)
    return bertedu_attention_bias


def nsp_logits():
    from bertedu import BertConfig, BertPooler

    def bertedu_pooler_logits(hidden, head):
        pooler = BertPooler(BertConfig(vocab_size=10, hidden_size=hidden.shape[-1], num_attention_heads=1))
        pooler.dense.load_state_dict(head.dense.state_dict())
        return head.seq_relationship(pooler(hidden))
    return bertedu_pooler_logits


def embeddings():
    from bertedu import BertConfig, BertEmbeddings

    class BertEmbeddingsAdapter(torch.nn.Module):
        """bertedu.BertEmbeddings in the bug-hunt signature (dropout 0; the same position table)."""

        def __init__(self, vocab_size, max_positions, hidden, generator):
            super().__init__()
            config = BertConfig(vocab_size=vocab_size, hidden_size=hidden, num_attention_heads=1,
                                max_position_embeddings=max_positions, hidden_dropout_prob=0.0)
            self.inner = BertEmbeddings(config)
            self.position_embeddings = self.inner.position_embeddings

        def forward(self, input_ids):
            return self.inner(input_ids)
    return BertEmbeddingsAdapter


LIBRARY: dict[int, Callable[[], Callable]] = {
    1: mlm_loss, 2: nsp_loss, 3: random_next, 4: masker, 5: masker, 6: masker, 7: attention_bias,
    10: nsp_logits, 12: masker, 13: embeddings,
}
