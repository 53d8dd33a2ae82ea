"""Downstream classification (``microgan classify``, the paper's Table 4): does restoration help a
classifier recognise cells?

``data`` reads labelled crops, ``folds`` splits them (stratified, grouped by source image),
``inputs`` serves each input kind (``hr``, ``lr``, ``sr:CHECKPOINT`` restored through
:class:`microgan.infer.Enhancer`), ``networks`` holds the classifiers (registered in
``microgan.registry.CLASSIFIERS``), ``fit`` trains and scores one fold, ``report`` summarizes, and
``run`` puts them together (:func:`microgan.classify.run.run_classification`).
"""
