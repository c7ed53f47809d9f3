"""Fine-tuning (BERT paper, Sec. 4 and Figure 4): one pretrained encoder, one small output layer per task.

* :mod:`bertedu.finetuning.heads`: the task heads (sequence, token, span, multiple-choice, joint
  intent + slot) with the reference implementation's class names and state-dict keys;
* :mod:`bertedu.finetuning.tagging`: words <-> WordPiece tokens for tagging tasks (first sub-token
  rule of Sec. 5.3);
* :mod:`bertedu.finetuning.loading`: a pretrained backbone (or a whole task checkpoint) into a head,
  and task checkpoints that ``transformers`` loads.

Nothing is imported here, so ``import bertedu.finetuning`` stays cheap; import the submodules (or the
names re-exported lazily by ``bertedu``).
"""
