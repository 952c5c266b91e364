# The emulated Pyboard: QEMU's mps2-an386 (Cortex-M4F, float32, armv7emsp) with what a
# Pyboard v1.1 has and the qemu port lacks (mule_board.c, _boot.py). Built by
# host_tools/qemu_board/build.py with BOARD=MULE_PYBOARD BOARD_DIR=<this folder>.
QEMU_ARCH = arm
QEMU_MACHINE = mps2-an386

CFLAGS += -mthumb -mcpu=cortex-m4 -mfloat-abi=hard -mfpu=fpv4-sp-d16
CFLAGS += -DQEMU_SOC_MPS2
CFLAGS += -DMICROPY_HW_MCU_NAME='"Cortex-M4F"'
CFLAGS += -include $(BOARD_DIR)/mpconfigboard.h

LDSCRIPT = mcu/arm/mps2.ld
# mule_board.c sits between the port and its UART (an RX interrupt and buffer: Ctrl-C while
# code runs) and runs boot.py/main.py after every (soft) reset, as a Pyboard does.
LDFLAGS += --wrap=uart_init --wrap=uart_rx_chr --wrap=uart_rx_any --wrap=mp_init
# vcan_link.c gives the heap's MULE_VCAN_HEAP share (build.py) to the CAN controller, or takes it off
LDFLAGS += --wrap=gc_init

# vcan_link.c: the board's end of the virtual CAN bus (host_tools/vcan), for the frozen machine.CAN
SRC_C += $(BOARD_DIR)/mule_board.c $(BOARD_DIR)/vcan_link.c shared/timeutils/timeutils.c
SRC_BOARD_O = shared/runtime/gchelper_native.o shared/runtime/gchelper_thumb2.o

MPY_CROSS_FLAGS += -march=armv7emsp
MICROPY_FLOAT_IMPL = float
SUPPORTS_HARDWARE_FP_SINGLE = 1

# A FAT drive at /flash, as on a Pyboard (its blocks: a file on the host, pyb.Flash)
MICROPY_VFS_FAT = 1

# Only our own start-up code is frozen (not micropython-lib's unittest, the port's default)
FROZEN_MANIFEST = $(BOARD_DIR)/manifest.py
MPY_LIB_DIR = $(BOARD_DIR)
