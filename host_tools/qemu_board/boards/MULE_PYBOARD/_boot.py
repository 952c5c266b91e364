# The emulated Pyboard's start-up (frozen): its flash drive at /flash and the search path,
# as a Pyboard v1.1 has them. The drive's blocks are a file on the host (pyb.Flash).
import os
import sys
import vfs

import pyb

_bdev = pyb.Flash()
try:
    vfs.mount(vfs.VfsFat(_bdev), "/flash")
except OSError:  # a blank drive: format it, as a Pyboard does on its first boot
    vfs.VfsFat.mkfs(_bdev)
    vfs.mount(vfs.VfsFat(_bdev), "/flash")
os.chdir("/flash")
sys.path.append("/flash")
sys.path.append("/flash/lib")
del _bdev
# A virtual CAN bus attached by the host (QemuBoard with can=True): machine.CAN on it
import vcan_link

if vcan_link.open():
    import mule_vcan

    del mule_vcan
del vcan_link
