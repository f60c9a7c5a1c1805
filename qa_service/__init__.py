"""Retrieval-augmented QA over the holdings: retrieve, rerank, answer, cite, refuse.

Public API::

    from qa_service.pipeline import QaPipeline
    from qa_service.retrieve import LexicalRetriever, SearchIndexRetriever, AsyncClientRetriever
    from qa_service.generative import LlmGenerator

    pipeline = QaPipeline(retriever, generator=LlmGenerator(url) or None)
    result = pipeline.ask("Ai là tác giả Tắt đèn?")            # extractive, synchronous
    result = await pipeline.aask(q, history, library_id, k, mode="generative")
    async for event, data in pipeline.astream(...): ...       # ("meta"|"token"|"final", …)

``result`` is a :class:`qa_service.types.AskResult`. The sentence ranker and the refusal model read
their fitted weights from ``qa_service/calibration.json`` (written by ``bench/qa_quality.py --fit``).
"""
