"""Reading recommendations from loans and holdings.

Models (all ``fit(interactions)`` / ``recommend(history, k, filters)``): :mod:`.popularity`
(recency-weighted, per library via filters), :mod:`.itemknn`, :mod:`.ease`, :mod:`.als` (``implicit``),
:mod:`.content` (record embeddings and/or TF-IDF of title, authors, subjects) and :mod:`.hybrid`,
whose fusion weights are tuned on a validation split (:mod:`.tuning`). Loans live in
:mod:`.loans_store`; :mod:`.training` writes versioned models (:mod:`.persist`); :mod:`.engine`
adds filters, MMR diversity (:mod:`.mmr`) and Vietnamese reasons (:mod:`.reasons`).
"""
