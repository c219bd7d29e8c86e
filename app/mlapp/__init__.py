"""The model-serving app: a Flask web front (mlapp.web), a Celery worker that owns the Keras model
(mlapp.worker) and the training code (mlapp.model). The web side never imports TensorFlow: it sends tasks
to the worker by name through RabbitMQ."""
