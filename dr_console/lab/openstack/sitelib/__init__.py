"""Code that runs inside the lab's OpenStack services on Debian's python3,
not in dr-console's venv: this directory goes on the services' PYTHONPATH
and its modules are imported top-level (``drlab_cinder``, ``drlab_fake``)."""
