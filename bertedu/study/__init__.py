"""The book's study appendices: flashcards, glossary, quiz bank and bug hunt (issue 12).

Nothing here is part of BERT; it gathers what the chapters already teach into study material:

* :mod:`~bertedu.study.sources`    - the chapters, their knowledge cards and quizzes, in reading order;
* :mod:`~bertedu.study.flashcards` - every card row as a flashcard, and an Anki-importable TSV;
* :mod:`~bertedu.study.glossary`   - the English <-> 中文 glossary (``data/study/glossary.json``) and its
  consistency checks against the cards and quizzes;
* :mod:`~bertedu.study.pages`      - writes the appendix pages (``book/flashcards.ipynb`` ...);
* :mod:`~bertedu.study.bughunt`    - every entry of the bug catalogue (book/bugs.md) as a broken and a
  fixed implementation with the check that tells them apart.

``python -m bertedu.study --help`` lists the commands (``flashcards``, ``glossary``, ``pages``, ``check``).
Like the chapters, these modules never import :mod:`bertedu.notebook`; the pages call it.
"""
