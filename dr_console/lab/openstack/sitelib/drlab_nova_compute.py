"""nova-compute for the dr-console lab, without the nova-compute package
(which pulls in qemu/libvirt). Run with Debian's python3:

    python3 drlab_nova_compute.py --config-file nova.conf

Nova loads ``compute_driver`` only as ``nova.virt.<name>``, so this launcher
adds its own directory to ``nova.virt.__path__`` (docs/lab.md, pitfall 5).
"""

import os
import sys

import nova.cmd  # eventlet monkey patching must come first
import nova.virt
from nova.cmd.compute import main

nova.virt.__path__.append(os.path.dirname(os.path.abspath(__file__)))

if __name__ == "__main__":
    sys.argv[0] = "nova-compute"
    sys.exit(main())
