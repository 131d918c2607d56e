"""The ``docker`` compute target: runs the agent inside a container, driven by the Docker SDK.

| module | concept |
|---|---|
| ``options`` | a docker target's table of ``runstream.toml`` (no Docker needed to read it) |
| ``engine`` | reaching the container engine, with errors that say how to point at one |
| ``recipe`` | what an image is made of, and its hash (the image's tag and label) |
| ``wheels`` | the Python packages for an image, downloaded on the host (builds stay offline) |
| ``image`` | preparing the image once per recipe |
| ``supervisor`` | one run's container, from the host: start, stream, stop, remove, take over |
| ``takeover`` | the host finishing a stream the container left unfinished |
| ``inside`` | the entry point of the agent inside the container |
| ``detached`` | the host side of ``submit --detach`` in the background |
| ``display`` | what the terminal shows while an image is prepared |

Only ``options`` is imported by code that does not use a container; the
``docker`` package (``pip install 'runstream[docker]'``) is imported on use.
"""
