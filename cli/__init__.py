"""The ``headrace`` command and the processes it runs and supervises (``headrace dev``'s
Temporal dev server and worker child, ``headrace api``, ``headrace worker``)."""
