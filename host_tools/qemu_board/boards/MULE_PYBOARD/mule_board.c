// The emulated Pyboard's board support: what a Pyboard v1.1 has and MicroPython's qemu
// port lacks, so the mule firmware and the host tools see the same board.
// - a receive buffer filled from interrupts (the UART's RX, and every millisecond from a
//   host file the board's relay appends to: QEMU's UART alone passes a few KB/s), so Ctrl-C
//   interrupts running code (a Pyboard's USB VCP interrupt does that);
// - pyb.USB_VCP over that UART (recv/any/write/read, setinterrupt), pyb.wfi;
// - pyb.Flash: the block device behind /flash, 512-byte blocks kept in a file on the host
//   (ARM semihosting, QEMU's working folder), so files survive soft and hard resets;
// - after every reset: the frozen _boot.py (mounts /flash), boot.py, and main.py when the
//   REPL is the friendly one, as ports/stm32/main.c does.

#include <string.h>

#include "py/runtime.h"
#include "py/stream.h"
#include "py/mphal.h"
#include "py/mperrno.h"
#include "extmod/vfs.h"
#include "shared/runtime/interrupt_char.h"
#include "shared/runtime/pyexec.h"

// ---- ARM semihosting: files in QEMU's working folder -----------------------------------

#define FLASH_BLOCK_SIZE (512)
#define SYS_OPEN (0x01)
#define SYS_WRITE (0x05)
#define SYS_READ (0x06)
#define SYS_SEEK (0x0a)
#define SYS_FLEN (0x0c)
#define MODE_RB (1)
#define MODE_R_PLUS_B (3)

// (also vcan_link.c's)
int semihost(int op, const void *arg) {
    register int r0 __asm__ ("r0") = op;
    register const void *r1 __asm__ ("r1") = arg;
    __asm__ volatile ("bkpt 0xab" : "+r" (r0) : "r" (r1) : "memory");
    return r0;
}

// ---- the UART's receive buffer, filled by its RX interrupt --------------------------------
// As on a Pyboard (its USB VCP interrupt): bytes wait in RAM for the program, and the
// interrupt character raises KeyboardInterrupt in running code. Polling the UART from the
// program instead starves QEMU's I/O thread (a few KB/s); with the interrupt it runs freely.

#define RX_SIZE (2048)  // a power of two
static uint8_t rx_buf[RX_SIZE];
static volatile uint32_t rx_head, rx_tail;
static volatile bool rx_paused;  // RX interrupt off while the buffer is full (kept in RAM: an
                                 // MMIO read per byte would contend for QEMU's big lock)

typedef struct _cmsdk_uart_t {
    volatile uint32_t DATA;
    volatile uint32_t STATE;
    volatile uint32_t CTRL;
    volatile uint32_t INTSTATUS;
} cmsdk_uart_t;
#define UART0 ((cmsdk_uart_t *)0x40004000)
#define UART_STATE_RXFULL (1 << 1)
#define UART_CTRL_RX_INT (1 << 3)
#define UART_INT_RX (1 << 1)
#define UART0_RX_IRQ (0)  // mps2-an386: UART0 RX is external interrupt 0
#define SCB_VTOR (*(volatile uint32_t *)0xE000ED08)
#define NVIC_ISER0 (*(volatile uint32_t *)0xE000E100)

void __real_uart_init(void);
void __real_mp_init(void);

static void uart0_rx_irq_handler(void) {
    UART0->INTSTATUS = UART_INT_RX;
    while (UART0->STATE & UART_STATE_RXFULL) {
        if (rx_head - rx_tail >= RX_SIZE) {
            // full: stop taking bytes (they wait in QEMU) until the program reads some
            UART0->CTRL &= ~UART_CTRL_RX_INT;
            rx_paused = true;
            return;
        }
        int c = UART0->DATA;
        if (c == mp_interrupt_char) {
            mp_sched_keyboard_interrupt();
        } else {
            rx_buf[rx_head++ % RX_SIZE] = c;
        }
    }
}

// Host→board bytes also come through a file the host appends to (QEMU's UART moves one
// byte per round trip of its main loop, a few KB/s; this path moves what the buffer has room
// for every millisecond). Read from the SysTick interrupt, so Ctrl-C interrupts even code
// that never returns to the VM, as on a Pyboard.
#define INPUT_FILE "mule_uart_in"
static int input_fd = -1;  // -1: no such file, the UART alone
static void (*port_systick_handler)(void);

static void input_poll(void) {
    uint8_t chunk[256];
    for (;;) {
        uint32_t room = RX_SIZE - (rx_head - rx_tail);
        uint32_t want = room < sizeof(chunk) ? room : sizeof(chunk);
        if (want == 0) {
            return;  // full: the bytes wait in the file
        }
        uint32_t read_args[3] = {input_fd, (uint32_t)chunk, want};
        uint32_t got = want - semihost(SYS_READ, read_args);  // returns the bytes NOT read
        for (uint32_t i = 0; i < got; ++i) {
            if (chunk[i] == mp_interrupt_char) {
                mp_sched_keyboard_interrupt();
            } else {
                rx_buf[rx_head++ % RX_SIZE] = chunk[i];
            }
        }
        if (got < want) {
            return;
        }
    }
}

static void systick_handler(void) {
    port_systick_handler();  // the port's millisecond tick
    input_poll();
}

// the 16 system vectors of the port's table, then the external interrupts, in RAM
static uint32_t vector_table[16 + 32] __attribute__((aligned(256)));

void __wrap_uart_init(void) {
    __real_uart_init();
    const uint32_t *rom = (const uint32_t *)SCB_VTOR;
    for (int i = 0; i < 16; ++i) {
        vector_table[i] = rom[i];
    }
    vector_table[16 + UART0_RX_IRQ] = (uint32_t)uart0_rx_irq_handler;
    uint32_t open_args[3] = {(uint32_t)INPUT_FILE, MODE_RB, sizeof(INPUT_FILE) - 1};
    input_fd = semihost(SYS_OPEN, open_args);
    if (input_fd >= 0) {
        port_systick_handler = (void (*)(void))rom[15];
        vector_table[15] = (uint32_t)systick_handler;
    }
    SCB_VTOR = (uint32_t)vector_table;
    __asm__ volatile ("dsb\nisb");
    UART0->CTRL |= UART_CTRL_RX_INT;
    NVIC_ISER0 = 1 << UART0_RX_IRQ;
}

static inline size_t rx_waiting(void) {
    return rx_head - rx_tail;
}

static int rx_pop(void) {
    int c = rx_buf[rx_tail++ % RX_SIZE];
    if (rx_paused) {
        rx_paused = false;
        UART0->CTRL |= UART_CTRL_RX_INT;  // room again: take bytes again
    }
    return c;
}

// Only the REPL's blocking read calls this: sleep until an interrupt (a byte, or the 1 ms
// SysTick) instead of spinning QEMU at 100 % of a host core.
int __wrap_uart_rx_chr(void) {
    if (!rx_waiting()) {
        __asm__ volatile ("wfi");
        return -1;  // UART_RX_NO_CHAR
    }
    return rx_pop();
}

int __wrap_uart_rx_any(void) {
    return rx_waiting() != 0;
}

// Up to len bytes; waits at most timeout_ms for each next byte (pyb.USB_VCP.recv).
static size_t rx_read(uint8_t *buf, size_t len, mp_uint_t timeout_ms) {
    size_t n = 0;
    mp_uint_t start = mp_hal_ticks_ms();
    while (n < len) {
        if (rx_waiting()) {
            buf[n++] = rx_pop();
            start = mp_hal_ticks_ms();
        } else if (mp_hal_ticks_ms() - start >= timeout_ms) {
            break;
        } else {
            __asm__ volatile ("wfi");  // until a byte or the next millisecond
        }
    }
    return n;
}

// ---- pyb.USB_VCP --------------------------------------------------------------------------

typedef struct _pyb_usb_vcp_obj_t {
    mp_obj_base_t base;
} pyb_usb_vcp_obj_t;

static const mp_obj_type_t pyb_usb_vcp_type;
static const pyb_usb_vcp_obj_t pyb_usb_vcp_obj = {{&pyb_usb_vcp_type}};

static mp_obj_t pyb_usb_vcp_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 0, 1, false);
    return MP_OBJ_FROM_PTR(&pyb_usb_vcp_obj);
}

static mp_obj_t pyb_usb_vcp_setinterrupt(mp_obj_t self_in, mp_obj_t int_chr_in) {
    mp_hal_set_interrupt_char(mp_obj_get_int(int_chr_in));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(pyb_usb_vcp_setinterrupt_obj, pyb_usb_vcp_setinterrupt);

static mp_obj_t pyb_usb_vcp_isconnected(mp_obj_t self_in) {
    return mp_const_true;
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_usb_vcp_isconnected_obj, pyb_usb_vcp_isconnected);

static mp_obj_t pyb_usb_vcp_any(mp_obj_t self_in) {
    return mp_obj_new_bool(rx_waiting() != 0);
}
static MP_DEFINE_CONST_FUN_OBJ_1(pyb_usb_vcp_any_obj, pyb_usb_vcp_any);

static mp_obj_t pyb_usb_vcp_send(size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_data, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_rom_obj = MP_ROM_NONE} },
        { MP_QSTR_timeout, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = 5000} },
    };
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args - 1, pos_args + 1, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);
    mp_buffer_info_t bufinfo;
    byte data;
    if (mp_obj_is_int(args[0].u_obj)) {
        data = mp_obj_get_int(args[0].u_obj);
        bufinfo.buf = &data;
        bufinfo.len = 1;
    } else {
        mp_get_buffer_raise(args[0].u_obj, &bufinfo, MP_BUFFER_READ);
    }
    mp_hal_stdout_tx_strn(bufinfo.buf, bufinfo.len);
    return mp_obj_new_int(bufinfo.len);
}
static MP_DEFINE_CONST_FUN_OBJ_KW(pyb_usb_vcp_send_obj, 1, pyb_usb_vcp_send);

static mp_obj_t pyb_usb_vcp_recv(size_t n_args, const mp_obj_t *pos_args, mp_map_t *kw_args) {
    static const mp_arg_t allowed_args[] = {
        { MP_QSTR_data, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_rom_obj = MP_ROM_NONE} },
        { MP_QSTR_timeout, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = 5000} },
    };
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all(n_args - 1, pos_args + 1, kw_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);
    if (mp_obj_is_int(args[0].u_obj)) {  // recv(n): a new bytes object
        vstr_t vstr;
        vstr_init_len(&vstr, mp_obj_get_int(args[0].u_obj));
        vstr.len = rx_read((uint8_t *)vstr.buf, vstr.len, args[1].u_int);
        return mp_obj_new_bytes_from_vstr(&vstr);
    }
    mp_buffer_info_t bufinfo;  // recv(buf): how many bytes went into buf, nothing allocated
    mp_get_buffer_raise(args[0].u_obj, &bufinfo, MP_BUFFER_WRITE);
    return MP_OBJ_NEW_SMALL_INT(rx_read(bufinfo.buf, bufinfo.len, args[1].u_int));
}
static MP_DEFINE_CONST_FUN_OBJ_KW(pyb_usb_vcp_recv_obj, 1, pyb_usb_vcp_recv);

static const mp_rom_map_elem_t pyb_usb_vcp_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_setinterrupt), MP_ROM_PTR(&pyb_usb_vcp_setinterrupt_obj) },
    { MP_ROM_QSTR(MP_QSTR_isconnected), MP_ROM_PTR(&pyb_usb_vcp_isconnected_obj) },
    { MP_ROM_QSTR(MP_QSTR_any), MP_ROM_PTR(&pyb_usb_vcp_any_obj) },
    { MP_ROM_QSTR(MP_QSTR_send), MP_ROM_PTR(&pyb_usb_vcp_send_obj) },
    { MP_ROM_QSTR(MP_QSTR_recv), MP_ROM_PTR(&pyb_usb_vcp_recv_obj) },
    { MP_ROM_QSTR(MP_QSTR_read), MP_ROM_PTR(&mp_stream_read_obj) },
    { MP_ROM_QSTR(MP_QSTR_readinto), MP_ROM_PTR(&mp_stream_readinto_obj) },
    { MP_ROM_QSTR(MP_QSTR_readline), MP_ROM_PTR(&mp_stream_unbuffered_readline_obj) },
    { MP_ROM_QSTR(MP_QSTR_write), MP_ROM_PTR(&mp_stream_write_obj) },
};
static MP_DEFINE_CONST_DICT(pyb_usb_vcp_locals_dict, pyb_usb_vcp_locals_dict_table);

// Stream reads never block (None when nothing waits), as on a Pyboard's VCP.
static mp_uint_t pyb_usb_vcp_read(mp_obj_t self_in, void *buf, mp_uint_t size, int *errcode) {
    mp_uint_t n = rx_read(buf, size, 0);
    if (n == 0) {
        *errcode = MP_EAGAIN;
        return MP_STREAM_ERROR;
    }
    return n;
}

static mp_uint_t pyb_usb_vcp_write(mp_obj_t self_in, const void *buf, mp_uint_t size, int *errcode) {
    mp_hal_stdout_tx_strn(buf, size);
    return size;
}

static mp_uint_t pyb_usb_vcp_ioctl(mp_obj_t self_in, mp_uint_t request, uintptr_t arg, int *errcode) {
    if (request == MP_STREAM_POLL) {
        mp_uint_t ret = arg & MP_STREAM_POLL_WR;
        if ((arg & MP_STREAM_POLL_RD) && rx_waiting()) {
            ret |= MP_STREAM_POLL_RD;
        }
        return ret;
    }
    if (request == MP_STREAM_CLOSE) {
        return 0;
    }
    *errcode = MP_EINVAL;
    return MP_STREAM_ERROR;
}

static const mp_stream_p_t pyb_usb_vcp_stream_p = {
    .read = pyb_usb_vcp_read,
    .write = pyb_usb_vcp_write,
    .ioctl = pyb_usb_vcp_ioctl,
};

static MP_DEFINE_CONST_OBJ_TYPE(
    pyb_usb_vcp_type,
    MP_QSTR_USB_VCP,
    MP_TYPE_FLAG_ITER_IS_STREAM,
    make_new, pyb_usb_vcp_make_new,
    protocol, &pyb_usb_vcp_stream_p,
    locals_dict, &pyb_usb_vcp_locals_dict
    );

// ---- pyb.Flash: the drive's blocks in a host file, through ARM semihosting --------------

#define FLASH_FILE "mule_flash.img"

static int flash_fd = -1;  // opened once; kept across soft resets
static uint32_t flash_blocks;

static void flash_open(void) {
    if (flash_fd >= 0) {
        return;
    }
    uint32_t open_args[3] = {(uint32_t)FLASH_FILE, MODE_R_PLUS_B, sizeof(FLASH_FILE) - 1};
    int fd = semihost(SYS_OPEN, open_args);
    if (fd < 0) {
        mp_raise_msg(&mp_type_OSError, MP_ERROR_TEXT("no " FLASH_FILE " in QEMU's folder"));
    }
    uint32_t flen_args[1] = {fd};
    flash_blocks = semihost(SYS_FLEN, flen_args) / FLASH_BLOCK_SIZE;
    flash_fd = fd;
}

// read or write len bytes at byte offset pos; 0 or -MP_EIO
static int flash_io(int op, uint32_t pos, void *buf, size_t len) {
    uint32_t seek_args[2] = {flash_fd, pos};
    if (pos + len > flash_blocks * FLASH_BLOCK_SIZE || semihost(SYS_SEEK, seek_args) != 0) {
        return -MP_EIO;
    }
    uint32_t io_args[3] = {flash_fd, (uint32_t)buf, len};
    return semihost(op, io_args) == 0 ? 0 : -MP_EIO;  // the call returns the bytes NOT moved
}

typedef struct _pyb_flash_obj_t {
    mp_obj_base_t base;
} pyb_flash_obj_t;

static const mp_obj_type_t pyb_flash_type;
static const pyb_flash_obj_t pyb_flash_obj = {{&pyb_flash_type}};

static mp_obj_t pyb_flash_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 0, 0, false);
    flash_open();
    return MP_OBJ_FROM_PTR(&pyb_flash_obj);
}

static mp_obj_t pyb_flash_blocks(int op, size_t n_args, const mp_obj_t *args) {
    mp_buffer_info_t bufinfo;
    mp_get_buffer_raise(args[2], &bufinfo, op == SYS_READ ? MP_BUFFER_WRITE : MP_BUFFER_READ);
    uint32_t pos = mp_obj_get_int(args[1]) * FLASH_BLOCK_SIZE;
    if (n_args == 4) {
        pos += mp_obj_get_int(args[3]);
    }
    return MP_OBJ_NEW_SMALL_INT(flash_io(op, pos, bufinfo.buf, bufinfo.len));
}

static mp_obj_t pyb_flash_readblocks(size_t n_args, const mp_obj_t *args) {
    return pyb_flash_blocks(SYS_READ, n_args, args);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(pyb_flash_readblocks_obj, 3, 4, pyb_flash_readblocks);

static mp_obj_t pyb_flash_writeblocks(size_t n_args, const mp_obj_t *args) {
    return pyb_flash_blocks(SYS_WRITE, n_args, args);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(pyb_flash_writeblocks_obj, 3, 4, pyb_flash_writeblocks);

static mp_obj_t pyb_flash_ioctl(mp_obj_t self_in, mp_obj_t op_in, mp_obj_t arg_in) {
    switch (mp_obj_get_int(op_in)) {
        case MP_BLOCKDEV_IOCTL_BLOCK_COUNT:
            return MP_OBJ_NEW_SMALL_INT(flash_blocks);
        case MP_BLOCKDEV_IOCTL_BLOCK_SIZE:
            return MP_OBJ_NEW_SMALL_INT(FLASH_BLOCK_SIZE);
        case MP_BLOCKDEV_IOCTL_INIT:
        case MP_BLOCKDEV_IOCTL_DEINIT:
        case MP_BLOCKDEV_IOCTL_SYNC:
        case MP_BLOCKDEV_IOCTL_BLOCK_ERASE:
            return MP_OBJ_NEW_SMALL_INT(0);
        default:
            return mp_const_none;
    }
}
static MP_DEFINE_CONST_FUN_OBJ_3(pyb_flash_ioctl_obj, pyb_flash_ioctl);

static const mp_rom_map_elem_t pyb_flash_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_readblocks), MP_ROM_PTR(&pyb_flash_readblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_writeblocks), MP_ROM_PTR(&pyb_flash_writeblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_ioctl), MP_ROM_PTR(&pyb_flash_ioctl_obj) },
};
static MP_DEFINE_CONST_DICT(pyb_flash_locals_dict, pyb_flash_locals_dict_table);

static MP_DEFINE_CONST_OBJ_TYPE(
    pyb_flash_type,
    MP_QSTR_Flash,
    MP_TYPE_FLAG_NONE,
    make_new, pyb_flash_make_new,
    locals_dict, &pyb_flash_locals_dict
    );

// ---- the pyb module ---------------------------------------------------------------------

static mp_obj_t pyb_wfi(void) {
    __asm__ volatile ("wfi");  // SysTick wakes it every millisecond
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_0(pyb_wfi_obj, pyb_wfi);

static const mp_rom_map_elem_t pyb_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_pyb) },
    { MP_ROM_QSTR(MP_QSTR_USB_VCP), MP_ROM_PTR(&pyb_usb_vcp_type) },
    { MP_ROM_QSTR(MP_QSTR_Flash), MP_ROM_PTR(&pyb_flash_type) },
    { MP_ROM_QSTR(MP_QSTR_wfi), MP_ROM_PTR(&pyb_wfi_obj) },
};
static MP_DEFINE_CONST_DICT(pyb_module_globals, pyb_module_globals_table);

const mp_obj_module_t pyb_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&pyb_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR_pyb, pyb_module);

// ---- after every reset, as a Pyboard: _boot.py, boot.py, main.py --------------------------

void __wrap_mp_init(void) {
    __real_mp_init();
    pyexec_frozen_module("_boot.py", false);
    int ret = pyexec_file_if_exists("boot.py");
    if (!(ret & PYEXEC_FORCED_EXIT) && pyexec_mode_kind == PYEXEC_MODE_FRIENDLY_REPL) {
        ret = pyexec_file_if_exists("main.py");
    }
    if (ret & PYEXEC_FORCED_EXIT) {
        // sys.exit()/machine.soft_reset() in boot.py or main.py: a Pyboard soft-resets;
        // a Ctrl-D waiting at the REPL's empty prompt does the same here
        __asm__ volatile ("cpsid i");  // rx_head belongs to the interrupts
        rx_buf[rx_head++ % RX_SIZE] = 4;
        __asm__ volatile ("cpsie i");
    }
}
