"""Training and loading of the Keras model. Only the worker and the training CLI import this package's
TensorFlow parts (mlapp.model.network); files, metadata and dataset stay importable without TensorFlow."""
