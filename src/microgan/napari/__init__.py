"""napari plugin: restore an image layer with MicroGAN, and a real BCCD field to try it on.

napari finds it through the ``napari.manifest`` entry point (``napari.yaml`` beside this file, an
npe2 manifest) and imports the modules named there only when they are used, so importing
``microgan`` never imports napari or Qt. Install with ``pip install 'microgan[napari]'``, then
*Plugins > Restore (MicroGAN)* and *File > Open Sample > MicroGAN*.

``restore`` holds the work (layer data in, same-shaped restoration out, cancellable), ``widget``
the dock widget that runs it in a worker thread, ``samples`` the sample data contributions.
"""
