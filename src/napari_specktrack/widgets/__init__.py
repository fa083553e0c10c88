"""napari dock widgets: thin shells that read their settings on the main thread, run the
compute core in a worker (:mod:`._workers`) and show the results as layers.

* :class:`~.acquisition.AcquisitionWidget`: layers → roles (reference, sample, in-line, dark,
  flat) and the geometry;
* :class:`~.generator.GeneratorWidget`: the network's in-line image;
* :class:`~.retrieval.RetrievalWidget`: phase, transmission, dark-field, displacement, quality;
* :class:`~.profile.ProfileWidget`: line profiles against sphere theory.

Nothing is imported here, so napari's plugin discovery stays fast; npe2 imports each widget
module when its dock is opened.
"""
