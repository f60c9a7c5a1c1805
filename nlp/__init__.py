"""Vietnamese text processing for thuvien.

Light, always-available functions are re-exported here::

    from nlp import normalize, fold, syllables, folded_syllables

Heavier parts live in their modules and load their models lazily: ``nlp.segment`` (underthesea word
segmentation), ``nlp.sentences``, ``nlp.langid`` (lid.176 + a Vietnamese syllable detector),
``nlp.restore`` (diacritic restoration learnt from the collection) and ``nlp.analyze`` (query analysis).
"""

from nlp.fold import fold, has_diacritics
from nlp.normalize import normalize
from nlp.tokenize import folded_syllables, syllables, tokens

__all__ = ["normalize", "fold", "has_diacritics", "syllables", "folded_syllables", "tokens"]
